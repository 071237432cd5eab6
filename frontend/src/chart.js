// A line chart over uPlot (vendored): lines with their own x values, dashed
// and stepped lines, overlays (vertical rules, markers, spans, labelled
// guides) drawn on the same canvas, a linear or log x axis, drag-to-zoom and
// double-click-to-reset handed to the owner, a tooltip whose rows the owner
// computes, PNG export.
//
// uPlot runs in its faceted mode (mode 2): every line keeps its own x array.
// Runs downsampled by the server keep different steps; putting them on one
// shared x axis (uPlot's usual layout) would cost lines x union-of-steps
// cells (2 million for 20 runs) to build and to draw.

import uPlot from './vendor/uplot/uPlot.esm.js';
import {formatValue} from './format.js';
import {liftLabels} from './label_layout.js';
import {yExtent} from './series_math.js';

// Beyond this many lines, every line is a hairline (1 CSS pixel): thicker
// ones only merge into a band, and cost a software rasterizer four times
// as much (a 100-run chart: 210 ms against 50 ms a frame in headless Chromium).
const CROWDED_LINES = 40;

/**
 * @typedef {object} Line
 * @property {string} label
 * @property {string} color
 * @property {ArrayLike<number|null>} x ascending
 * @property {ArrayLike<number|null>} y
 * @property {boolean} [dashed] the configured schedule
 * @property {boolean} [stepped] change-sampled: holds until the next point
 * @property {number} [width]
 * @property {boolean} [setsRange] false: drawn, but not stretching the x range (a preview run)
 */

/**
 * @typedef {object} Overlays
 * @property {{x: number}[]} [rules] faint vertical lines (epoch boundaries)
 * @property {{x: number, y: number, color: string, label?: string}[]} [markers]
 *   deviation marks; a labelled one (a range test's suggestion) has its label
 *   above it, or higher where a neighbour's label is
 * @property {{x0: number, x1: number, color: string}[]} [spans] strips along the top
 * @property {{y0: number, y1: number, color: string}[]} [bands] shaded y ranges under
 *   the lines (a guide), always in view
 * @property {{x?: number, y?: number, color: string, label: string, dashed?: boolean}[]} [guides]
 *   labelled lines across the chart: vertical at `x`, or horizontal at `y` (always in view)
 */

/** The colours of the page's theme, read from its CSS variables. */
export function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    fg: read('--lr-fg', '#202124'),
    muted: read('--lr-muted', '#5f6368'),
    grid: read('--lr-grid', 'rgba(0,0,0,0.08)'),
    bg: read('--lr-bg', '#ffffff'),
    rule: read('--lr-rule', 'rgba(0,0,0,0.12)'),
    accent: read('--lr-accent', '#f57c00'),
    accentWeak: read('--lr-accent-weak', 'rgba(245,124,0,0.12)'),
    error: read('--lr-error', '#c5221f'),
    font: read('--lr-font', 'system-ui, sans-serif'),
  };
}

export class LineChart {
  /**
   * @param {HTMLElement} host the element the chart fills (its width)
   * @param {{
   *   height?: number | (() => number),
   *   log?: boolean,
   *   formatX: (x: number) => string,
   *   onZoom?: (min: number, max: number) => void,
   *   onReset?: () => void,
   *   tooltip?: (x: number) => {title: string, rows: {color: string, cells: string[]}[], header?: string[]} | null,
   *   linearFromZero?: boolean,
   *   logX?: boolean,
   *   yCeiling?: () => number | null,
   *   title?: string,
   * }} options
   *   `yCeiling`: the highest y the axis shows; lines above it run off the top
   */
  constructor(host, options) {
    this.host = host;
    this.options = options;
    this.log = Boolean(options.log);
    /** @type {Line[]} */
    this.lines = [];
    /** @type {Overlays} */
    this.overlays = {};
    /** @type {{min: number, max: number} | null} */
    this.window = null;
    this.plot = null;
    this.faceted = [null];
    this.afterDraw = [];
    this.tip = document.createElement('div');
    this.tip.className = 'lr-tooltip';
    this.tip.hidden = true;
    this.tip.setAttribute('role', 'tooltip');
    host.classList.add('lr-chart');
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(host);
  }

  /**
   * Replaces the lines and overlays, keeping the x window when one is set.
   * @param {Line[]} lines
   * @param {Overlays} [overlays]
   * @returns {Promise<void>} settles when the chart has drawn them
   */
  setLines(lines, overlays = {}) {
    const sameShape = this.plot && lines.length > 0 && lines.length === this.lines.length &&
      lines.every((l, i) => l.label === this.lines[i].label && l.color === this.lines[i].color &&
        Boolean(l.dashed) === Boolean(this.lines[i].dashed) &&
        Boolean(l.stepped) === Boolean(this.lines[i].stepped));
    this.lines = lines;
    this.overlays = overlays;
    const drawn = this.nextDraw();
    if (sameShape) {
      // Both scales follow (see xRange and yRange).
      this.faceted = this.data();
      this.plot.setData(this.faceted, true);
    } else {
      this.rebuild();
    }
    return drawn;
  }

  /**
   * Replaces the overlays only: the lines' paths are kept, so this is cheap.
   * @param {Overlays} overlays
   * @returns {Promise<void>} settles when drawn
   */
  setOverlays(overlays) {
    this.overlays = overlays;
    if (!this.plot) return Promise.resolve();
    const drawn = this.nextDraw();
    this.plot.redraw(false, false);
    return drawn;
  }

  /**
   * Sets the x window (null: everything) and redraws with the data at hand.
   * @param {{min: number, max: number} | null} window
   * @returns {Promise<void>} settles when drawn
   */
  setWindow(window) {
    this.window = window;
    if (!this.plot) return Promise.resolve();
    const drawn = this.nextDraw();
    this.plot.batch(() => {
      this.plot.setScale('x', window ? {...window} : {min: null, max: null});
      // The y range follows what is visible in the new window.
      this.plot.setScale('y', {min: null, max: null});
    });
    return drawn;
  }

  /**
   * Switches the y axis between linear and log (base 10).
   * @param {boolean} log
   */
  setLog(log) {
    this.log = log;
    if (this.plot) this.rebuild();
  }

  /** Rebuilds the chart with the current theme (after a colour-scheme change). */
  restyle() {
    if (this.plot) this.rebuild();
  }

  /** Removes the chart and its listeners. */
  destroy() {
    this.resizeObserver.disconnect();
    this.plot?.destroy();
    this.plot = null;
    this.tip.remove();
  }

  /** @returns {Promise<void>} settles after the next completed draw */
  nextDraw() {
    return new Promise((resolve) => this.afterDraw.push(resolve));
  }

  /** uPlot's faceted data: `[null, [xs, ys], ...]`, points without an x left out. */
  data() {
    const out = [null];
    for (const line of this.lines) {
      const xs = [];
      const ys = [];
      for (let i = 0; i < line.x.length; i++) {
        const x = line.x[i];
        if (x == null || !Number.isFinite(x) || (this.options.logX && x <= 0)) continue;
        let y = line.y[i] ?? null;
        // A log axis has no place for zero, negatives or non-finite values: gaps.
        if (y !== null && (!Number.isFinite(y) || (this.log && y <= 0))) y = null;
        xs.push(x);
        ys.push(y);
      }
      out.push([xs, ys]);
    }
    // uPlot needs one series at least: an empty, invisible one.
    if (this.lines.length === 0) out.push([[], []]);
    return out;
  }

  /**
   * The x range shown without a window: the extent of the lines that set it
   * (all of them when none does), or null to let uPlot take every line's.
   * @returns {{min: number, max: number} | null}
   */
  dataWindow() {
    const ranging = this.lines.filter((line) => line.setsRange !== false);
    if (ranging.length === this.lines.length || ranging.length === 0) return null;
    let min = Infinity;
    let max = -Infinity;
    this.lines.forEach((line, i) => {
      const xs = this.faceted[i + 1]?.[0] || [];
      if (line.setsRange === false || xs.length === 0) return;
      min = Math.min(min, xs[0]);
      max = Math.max(max, xs[xs.length - 1]);
    });
    return min <= max ? {min, max} : null;
  }

  /** The x range: the window, else the data's extent. */
  xRange(min, max) {
    const window = this.window || this.dataWindow();
    if (window) {
      min = window.min;
      max = window.max;
    }
    const log = this.options.logX;
    if (min == null || !Number.isFinite(min) || !Number.isFinite(max)) return log ? [0.1, 1] : [0, 1];
    // uPlot's log ticks start from the range's ends: round them to a digit of their decade.
    if (log) return uPlot.rangeLog(min, max, 10, false);
    if (min === max) return [min - 1, max + 1];
    return [min, max];
  }

  /** The y range of what is visible in the x window, padded. */
  yRange() {
    let extent = yExtent(this.faceted.slice(1), this.window || this.dataWindow());
    const ceiling = this.options.yCeiling?.();
    if (extent && ceiling != null && extent[1] > ceiling) extent = [Math.min(extent[0], ceiling), ceiling];
    const stretch = (y0, y1) => {
      extent = extent ? [Math.min(extent[0], y0), Math.max(extent[1], y1)] : [y0, y1];
    };
    for (const band of this.overlays.bands || []) stretch(band.y0, band.y1);
    for (const guide of this.overlays.guides || []) if (guide.y != null) stretch(guide.y, guide.y);
    if (extent === null) return this.log ? [0.1, 1] : [0, 1];
    const [min, max] = extent;
    if (this.log) return uPlot.rangeLog(min, max, 10, true);
    if (this.options.linearFromZero && min >= 0) return [0, max > 0 ? max * 1.05 : 1];
    if (min === max) return [min - Math.abs(min || 1) * 0.1, max + Math.abs(max || 1) * 0.1];
    const pad = (max - min) * 0.05;
    return [min - pad, max + pad];
  }

  /**
   * The chart's width in CSS pixels. Kept from the last resize: reading
   * clientWidth forces a layout, and every run's fetch asks for it.
   * @returns {number}
   */
  width() {
    this.hostWidth ??= this.host.clientWidth;
    return this.hostWidth;
  }

  size() {
    const {height} = this.options;
    return {width: Math.max(this.width(), 200), height: (typeof height === 'function' ? height() : height) || 300};
  }

  resize() {
    this.hostWidth = this.host.clientWidth;
    if (!this.plot) return;
    const {width, height} = this.size();
    if (Math.abs(this.plot.width - width) > 1 || this.plot.height !== height) {
      this.plot.setSize({width, height});
    }
  }

  rebuild() {
    this.plot?.destroy();
    const theme = themeColors();
    const {formatX, onZoom} = this.options;
    const axis = {
      stroke: theme.muted,
      grid: {stroke: theme.grid, width: 1},
      ticks: {stroke: theme.grid, width: 1},
      font: `11px ${theme.font}`,
    };
    const facet = (scale) => ({scale, auto: true, sorted: 0});
    const crowded = this.lines.length > CROWDED_LINES;
    const options = {
      ...this.size(),
      mode: 2,
      legend: {show: false},
      scales: {
        x: {
          time: false, auto: true, range: (u, min, max) => this.xRange(min, max),
          ...(this.options.logX ? {distr: 3, log: 10} : {}),
        },
        y: this.log ?
          {distr: 3, log: 10, auto: true, range: () => this.yRange()} :
          {auto: true, range: () => this.yRange()},
      },
      axes: [
        {...axis, values: (u, splits) => splits.map((v) => (v == null ? '' : formatX(v)))},
        {
          ...axis,
          size: 64,
          values: (u, splits) => splits.map((v) => (v == null ? '' : formatValue(v))),
        },
      ],
      series: [
        {},
        ...(this.lines.length ? this.lines : [{label: '', color: 'transparent'}]).map((line) => ({
          label: line.label,
          stroke: line.color,
          width: line.width ?? (crowded ? 1 : line.dashed ? 1.25 : 1.75),
          dash: line.dashed ? [6, 4] : undefined,
          facets: [facet('x'), facet('y')],
          points: {show: false},
          paths: line.stepped ? uPlot.paths.stepped({align: 1}) : uPlot.paths.linear(),
        })),
      ],
      cursor: {
        drag: {x: Boolean(onZoom), y: false, setScale: false},
        points: {show: false},
        // Double-click resets the whole view (the owner re-fetches), not just this scale.
        bind: {dblclick: () => null},
      },
      hooks: {
        setSelect: [(u) => this.onSelect(u)],
        setCursor: [(u) => this.showTooltip(u)],
        drawClear: [(u) => this.drawBands(u)],
        draw: [(u) => this.drawOverlays(u, theme), () => this.drawn()],
        ready: [(u) => this.attach(u)],
      },
    };
    this.faceted = this.data();
    this.plot = new uPlot(options, this.faceted, this.host);
  }

  attach(u) {
    u.over.addEventListener('dblclick', () => this.options.onReset?.());
    u.over.addEventListener('mouseleave', () => {
      this.tip.hidden = true;
    });
    this.host.appendChild(this.tip);
  }

  drawn() {
    this.describe();
    const waiting = this.afterDraw;
    this.afterDraw = [];
    for (const resolve of waiting) resolve();
  }

  /**
   * A text summary of what is drawn, for screen readers (the canvas has no
   * text): each line and its points, the axes and the x range.
   */
  describe() {
    const u = this.plot;
    const {formatX, title = 'Chart'} = this.options;
    const lines = this.lines.map((line) => {
      let points = 0;
      for (let i = 0; i < line.y.length; i++) if (line.y[i] != null && line.x[i] != null) points++;
      return `${line.label}: ${line.dashed ? 'dashed' : 'solid'}, ${points} points`;
    });
    const x = u.scales.x;
    const range = x.min == null ? 'no data' : `x from ${formatX(x.min)} to ${formatX(x.max)}`;
    const {markers = [], guides = []} = this.overlays;
    const labels = [...markers, ...guides].filter((mark) => mark.label).map((mark) => mark.label);
    this.host.setAttribute('role', 'img');
    this.host.setAttribute('aria-label',
        `${title}. ${this.log ? 'Log' : 'Linear'} y axis; ${range}. ${lines.join('; ')}.` +
        (labels.length ? ` Marked: ${labels.join('; ')}.` : ''));
  }

  onSelect(u) {
    const {left, width} = u.select;
    if (width < 3) return;
    const min = u.posToVal(left, 'x');
    const max = u.posToVal(left + width, 'x');
    u.setSelect({left: 0, top: 0, width: 0, height: 0}, false);
    this.options.onZoom?.(min, max);
  }

  showTooltip(u) {
    const {left, top} = u.cursor;
    if (left == null || left < 0 || !this.options.tooltip || this.lines.length === 0) {
      this.tip.hidden = true;
      return;
    }
    const content = this.options.tooltip(u.posToVal(left, 'x'));
    if (!content) {
      this.tip.hidden = true;
      return;
    }
    renderTooltip(this.tip, content);
    this.tip.hidden = false;
    // Beside the cursor, flipped to stay inside the chart.
    const overLeft = u.over.offsetLeft;
    const overTop = u.over.offsetTop;
    const tipWidth = this.tip.offsetWidth;
    const tipHeight = this.tip.offsetHeight;
    let x = overLeft + left + 16;
    if (x + tipWidth > this.host.clientWidth) x = Math.max(0, overLeft + left - tipWidth - 16);
    let y = overTop + (top ?? 0) + 16;
    if (y + tipHeight > this.host.clientHeight + 40) y = Math.max(0, overTop + (top ?? 0) - tipHeight - 16);
    this.tip.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }

  drawBands(u) {
    const {left, top, width, height} = u.bbox;
    for (const band of this.overlays.bands || []) {
      const y0 = u.valToPos(band.y1, 'y', true);
      const y1 = u.valToPos(band.y0, 'y', true);
      const from = Math.max(top, Math.min(y0, y1));
      const to = Math.min(top + height, Math.max(y0, y1));
      if (!(to > from)) continue;
      u.ctx.fillStyle = band.color;
      u.ctx.fillRect(left, from, width, to - from);
    }
  }

  drawOverlays(u, theme) {
    const {rules = [], markers = [], spans = [], guides = []} = this.overlays;
    if (rules.length + markers.length + spans.length + guides.length === 0) return;
    const ctx = u.ctx;
    const {left, top, width, height} = u.bbox;
    const xMin = u.scales.x.min;
    const xMax = u.scales.x.max;
    const ratio = uPlot.pxRatio;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    // Epoch rules: skipped when denser than one per 4 pixels (a grey wash says nothing).
    const visibleRules = rules.filter((r) => r.x >= xMin && r.x <= xMax);
    if (visibleRules.length > 0 && visibleRules.length * 4 * ratio <= width) {
      ctx.lineWidth = ratio;
      ctx.setLineDash([]);
      ctx.beginPath();
      for (const rule of visibleRules) {
        const x = Math.round(u.valToPos(rule.x, 'x', true)) + 0.5;
        ctx.moveTo(x, top);
        ctx.lineTo(x, top + height);
      }
      ctx.strokeStyle = theme.rule;
      ctx.stroke();
    }
    for (const span of spans) {
      if (span.x1 < xMin || span.x0 > xMax) continue;
      const x0 = u.valToPos(Math.max(span.x0, xMin), 'x', true);
      const x1 = u.valToPos(Math.min(span.x1, xMax), 'x', true);
      ctx.fillStyle = span.color;
      ctx.globalAlpha = 0.5;
      ctx.fillRect(x0, top, Math.max(x1 - x0, 2 * ratio), 4 * ratio);
      ctx.globalAlpha = 1;
    }
    ctx.font = `${11 * ratio}px ${theme.font}`;
    const lineHeight = 14 * ratio;
    for (const guide of guides) {
      const vertical = guide.x != null;
      const at = vertical ? guide.x : guide.y;
      if (vertical ? at < xMin || at > xMax : this.log && !(at > 0)) continue;
      const position = Math.round(u.valToPos(at, vertical ? 'x' : 'y', true)) + 0.5;
      ctx.lineWidth = 1.5 * ratio;
      ctx.setLineDash(guide.dashed ? [6 * ratio, 4 * ratio] : []);
      ctx.strokeStyle = guide.color;
      ctx.beginPath();
      ctx.moveTo(vertical ? position : left, vertical ? top : position);
      ctx.lineTo(vertical ? position : left + width, vertical ? top + height : position);
      ctx.stroke();
      ctx.setLineDash([]);
      // Beside the line's top end (vertical) or above its right end (horizontal).
      ctx.textAlign = vertical ? 'left' : 'right';
      ctx.textBaseline = vertical ? 'top' : 'bottom';
      haloText(ctx, guide.label, vertical ? position + 4 * ratio : left + width - 4 * ratio,
          vertical ? top + 4 * ratio : position - 3 * ratio, guide.color, theme.bg);
    }
    const size = 6 * ratio;
    const labels = [];
    ctx.lineWidth = 1.5 * ratio;
    for (const marker of markers) {
      if (marker.x < xMin || marker.x > xMax || marker.y == null) continue;
      if (this.log && !(marker.y > 0)) continue;
      const x = u.valToPos(marker.x, 'x', true);
      const y = u.valToPos(marker.y, 'y', true);
      // A triangle pointing down at the first deviating point.
      ctx.beginPath();
      ctx.moveTo(x, y - 1.5 * ratio);
      ctx.lineTo(x - size, y - size * 1.8);
      ctx.lineTo(x + size, y - size * 1.8);
      ctx.closePath();
      ctx.fillStyle = marker.color;
      ctx.strokeStyle = theme.bg;
      ctx.fill();
      ctx.stroke();
      if (marker.label) {
        labels.push({text: marker.label, x, y: y - size * 1.8 - 2 * ratio, width: ctx.measureText(marker.label).width});
      }
    }
    this.drawMarkerLabels(labels, liftLabels(labels, lineHeight, 4 * ratio), top + lineHeight, theme);
    ctx.restore();
  }

  /**
   * Markers' labels at their places (`bottoms`, kept below `highest`); one
   * lifted above a neighbour's hangs on a thin line down to its marker.
   */
  drawMarkerLabels(labels, bottoms, highest, theme) {
    const ctx = this.plot.ctx;
    ctx.lineWidth = uPlot.pxRatio;
    ctx.strokeStyle = theme.muted;
    labels.forEach((label, i) => {
      if (bottoms[i] >= label.y) return;
      ctx.beginPath();
      ctx.moveTo(label.x, Math.max(highest, bottoms[i]));
      ctx.lineTo(label.x, label.y);
      ctx.stroke();
    });
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    labels.forEach((label, i) => haloText(ctx, label.text, label.x, Math.max(highest, bottoms[i]), theme.fg, theme.bg));
  }

  /**
   * The chart as a PNG, with a title and a legend above it, on the page's background.
   * @param {string} title
   * @param {{color: string, label: string, dashed?: boolean}[]} legend
   * @returns {Promise<Blob>}
   */
  toPng(title, legend) {
    const theme = themeColors();
    const source = this.plot.ctx.canvas;
    const ratio = uPlot.pxRatio;
    const pad = 12 * ratio;
    const lineHeight = 18 * ratio;
    const legendRows = Math.ceil(legend.length / 3);
    const headHeight = pad + lineHeight * (1 + legendRows) + pad / 2;
    const canvas = document.createElement('canvas');
    canvas.width = source.width + 2 * pad;
    canvas.height = source.height + headHeight + pad;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = theme.bg;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = theme.fg;
    ctx.textBaseline = 'middle';
    ctx.font = `600 ${13 * ratio}px ${theme.font}`;
    ctx.fillText(title, pad, pad + lineHeight / 2);
    ctx.font = `${11 * ratio}px ${theme.font}`;
    const column = (canvas.width - 2 * pad) / 3;
    legend.forEach((item, i) => {
      const x = pad + (i % 3) * column;
      const y = pad + lineHeight * (1.5 + Math.floor(i / 3));
      ctx.strokeStyle = item.color;
      ctx.lineWidth = 2 * ratio;
      ctx.setLineDash(item.dashed ? [4 * ratio, 3 * ratio] : []);
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 18 * ratio, y);
      ctx.stroke();
      ctx.fillStyle = theme.fg;
      // fillText draws text as pixels: a run name cannot become markup here.
      ctx.fillText(item.label, x + 24 * ratio, y, column - 30 * ratio);
    });
    ctx.drawImage(source, pad, headHeight);
    return new Promise((resolve, reject) =>
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('PNG encoding failed'))), 'image/png'));
  }
}

/**
 * Text drawn on a canvas over a halo of the background colour, legible over
 * lines and grid (fillText draws pixels: a name cannot become markup here).
 * @param {CanvasRenderingContext2D} ctx with its font and alignment set
 * @param {string} text
 * @param {number} x
 * @param {number} y
 * @param {string} color
 * @param {string} halo
 */
function haloText(ctx, text, x, y, color, halo) {
  ctx.lineWidth = 3 * uPlot.pxRatio;
  ctx.lineJoin = 'round';
  ctx.strokeStyle = halo;
  ctx.strokeText(text, x, y);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
}

/**
 * Fills the tooltip element; every string goes in as text.
 * @param {HTMLElement} tip
 * @param {{title: string, header?: string[], rows: {color: string, cells: string[]}[]}} content
 */
export function renderTooltip(tip, content) {
  const title = document.createElement('div');
  title.className = 'lr-tooltip-title';
  title.textContent = content.title;
  const table = document.createElement('table');
  if (content.header) {
    const head = table.createTHead().insertRow();
    head.insertCell().textContent = '';
    for (const text of content.header) {
      const th = document.createElement('th');
      th.textContent = text;
      head.appendChild(th);
    }
  }
  const body = table.createTBody();
  for (const row of content.rows) {
    const tr = body.insertRow();
    const swatch = document.createElement('span');
    swatch.className = 'lr-swatch';
    swatch.style.background = row.color;
    tr.insertCell().appendChild(swatch);
    for (const text of row.cells) tr.insertCell().textContent = text;
  }
  tip.replaceChildren(title, table);
}
