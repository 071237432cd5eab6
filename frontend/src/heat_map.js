// The update-ratio heat map: one row per layer (model order), one column per
// bucket of steps, each cell coloured by `ratio_scale.js`. One canvas: the
// cells are painted as one pixel each into an image that is scaled up
// without smoothing, so 300 layers by 2,000 columns cost one drawImage.
// Hover names the cell, a click on a row toggles its layer in the line
// chart, a drag zooms every chart to its steps, a double-click resets.

import {renderTooltip, themeColors} from './chart.js';
import {formatStep, formatValue} from './format.js';
import {cellRatio, ratioRgb} from './ratio_scale.js';

// Rows are as tall as fits this many pixels, within these bounds.
const MAX_HEIGHT = 480;
const MIN_ROW = 1;
const MAX_ROW = 18;
// Row labels are drawn when rows are at least this tall (else hover names them).
const LABELED_ROW = 11;
const LABEL_WIDTH = 160;
// A press that moves less than this is a click, not a drag.
const DRAG_PIXELS = 4;

/**
 * @typedef {object} HeatRow
 * @property {string} label the layer's path
 * @property {(number|null)[]} low per column, the lowest finite ratio
 * @property {(number|null)[]} high per column, the highest
 * @property {Set<number>} nonfinite the columns holding a NaN or infinite ratio
 * @property {string|null} mark the colour of its line when selected, else null
 */

/**
 * @typedef {object} HeatData
 * @property {HeatRow[]} rows
 * @property {number[]} steps each column's first step
 * @property {number} width steps per column
 * @property {[number, number]} window the first and last step shown
 */

export class HeatMap {
  /**
   * @param {HTMLElement} host
   * @param {{
   *   onZoom: (firstStep: number, lastStep: number) => void,
   *   onReset: () => void,
   *   onRow: (index: number) => void,
   * }} handlers
   */
  constructor(host, handlers) {
    this.host = host;
    this.handlers = handlers;
    /** @type {HeatData|null} */
    this.data = null;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'lr-heat-canvas';
    this.canvas.setAttribute('role', 'img');
    this.selection = document.createElement('div');
    this.selection.className = 'lr-heat-selection';
    this.selection.hidden = true;
    this.tip = document.createElement('div');
    this.tip.className = 'lr-tooltip';
    this.tip.setAttribute('role', 'tooltip');
    this.tip.hidden = true;
    host.classList.add('lr-heat');
    host.replaceChildren(this.canvas, this.selection, this.tip);
    this.listen();
    this.resizeObserver = new ResizeObserver(() => this.draw());
    this.resizeObserver.observe(host);
  }

  /** @param {HeatData} data */
  setData(data) {
    this.data = data;
    this.draw();
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.host.replaceChildren();
  }

  /** Row height, label width and cell area of the current data and size. */
  geometry() {
    const rows = this.data?.rows.length || 0;
    const rowHeight = rows ? Math.max(MIN_ROW, Math.min(MAX_ROW, Math.floor(MAX_HEIGHT / rows))) : 0;
    const width = Math.max(this.host.clientWidth, 200);
    const labels = rowHeight >= LABELED_ROW ? Math.min(LABEL_WIDTH, Math.round(width * 0.3)) : 0;
    return {rowHeight, labels, cellWidth: width - labels, width, height: Math.max(rowHeight * rows, 1)};
  }

  draw() {
    const data = this.data;
    if (!data) return;
    const theme = themeColors();
    const g = this.geometry();
    const ratio = devicePixelRatio || 1;
    this.canvas.width = Math.round(g.width * ratio);
    this.canvas.height = Math.round(g.height * ratio);
    this.canvas.style.width = `${g.width}px`;
    this.canvas.style.height = `${g.height}px`;
    const ctx = this.canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    const columns = data.steps.length;
    if (columns > 0 && data.rows.length > 0) {
      ctx.imageSmoothingEnabled = false;
      // Columns are `width` steps each; the last may stop early at the window's end.
      const shown = data.window[1] - data.window[0] + 1;
      ctx.save();
      ctx.beginPath();
      ctx.rect(g.labels, 0, g.cellWidth, g.height);
      ctx.clip();
      ctx.drawImage(this.cells(theme), 0, 0, columns, data.rows.length,
          g.labels, 0, (g.cellWidth * columns * data.width) / shown, g.height);
      ctx.restore();
    }
    this.drawLabels(ctx, g, theme);
    this.describe();
  }

  /** One pixel per cell: an image to scale up. */
  cells(theme) {
    const {rows, steps} = /** @type {HeatData} */ (this.data);
    const image = new ImageData(steps.length, rows.length);
    const bad = parseColor(theme.fg);
    rows.forEach((row, r) => {
      for (let c = 0; c < steps.length; c++) {
        const at = 4 * (r * steps.length + c);
        const value = cellRatio(row.low[c], row.high[c]);
        let rgb = null;
        if (row.nonfinite.has(c)) rgb = bad;
        else if (value != null) rgb = ratioRgb(value); // Zero: the scale's low end.
        if (!rgb) continue; // No ratio here: the background shows.
        image.data.set([...rgb, 255], at);
      }
    });
    const canvas = document.createElement('canvas');
    canvas.width = steps.length;
    canvas.height = rows.length;
    canvas.getContext('2d').putImageData(image, 0, 0);
    return canvas;
  }

  drawLabels(ctx, g, theme) {
    const rows = /** @type {HeatData} */ (this.data).rows;
    rows.forEach((row, r) => {
      const y = r * g.rowHeight;
      if (row.mark) {
        // A selected layer: its line's colour along the row's left edge.
        ctx.fillStyle = row.mark;
        ctx.fillRect(0, y, 4, Math.max(g.rowHeight, 2));
      }
      if (!g.labels) return;
      ctx.fillStyle = row.mark ? theme.fg : theme.muted;
      ctx.font = `${row.mark ? '600 ' : ''}11px ${theme.font}`;
      ctx.textBaseline = 'middle';
      // fillText paints pixels: a layer name cannot become markup.
      ctx.fillText(ellipsis(ctx, row.label, g.labels - 12), 8, y + g.rowHeight / 2);
    });
  }

  /** The canvas's text for screen readers (and tests): what it shows, and where it peaks. */
  describe() {
    const {rows, steps, window} = /** @type {HeatData} */ (this.data);
    let peak = null;
    for (const row of rows) {
      row.high.forEach((value, c) => {
        if (value != null && (peak === null || value > peak.value)) peak = {value, layer: row.label, column: c};
      });
    }
    const parts = [`Update ratio by layer: ${rows.length} layers, ${steps.length} columns`];
    if (steps.length) parts.push(`steps ${formatStep(window[0])} to ${formatStep(window[1])}`);
    if (peak) parts.push(`highest ${formatValue(peak.value)} in ${peak.layer} at step ${formatStep(steps[peak.column])}`);
    this.canvas.setAttribute('aria-label', parts.join('; ') + '.');
  }

  /** The cell under a point of the canvas (CSS pixels), or null. */
  cellAt(x, y) {
    const data = this.data;
    if (!data || data.steps.length === 0) return null;
    const g = this.geometry();
    const row = Math.floor(y / g.rowHeight);
    const step = this.stepAt(x, g);
    if (row < 0 || row >= data.rows.length || step === null) return null;
    const column = Math.min(Math.floor((step - data.window[0]) / data.width), data.steps.length - 1);
    return {row, column};
  }

  /** The step under an x of the canvas (CSS pixels), or null left of the cells. */
  stepAt(x, g = this.geometry()) {
    const data = /** @type {HeatData} */ (this.data);
    if (x < g.labels) return null;
    const shown = data.window[1] - data.window[0] + 1;
    const fraction = Math.min(Math.max((x - g.labels) / g.cellWidth, 0), 1);
    return Math.min(data.window[0] + Math.floor(fraction * shown), data.window[1]);
  }

  listen() {
    const point = (event) => {
      const box = this.canvas.getBoundingClientRect();
      return {x: event.clientX - box.left, y: event.clientY - box.top};
    };
    let press = null;
    this.canvas.addEventListener('mousedown', (event) => {
      if (event.button !== 0) return;
      press = point(event);
      event.preventDefault();
    });
    addEventListener('mouseup', (event) => {
      if (!press) return;
      const start = press;
      press = null;
      this.selection.hidden = true;
      const end = point(event);
      if (Math.abs(end.x - start.x) >= DRAG_PIXELS) {
        const a = this.stepAt(Math.min(start.x, end.x));
        const b = this.stepAt(Math.max(start.x, end.x));
        if (a !== null && b !== null && b > a) this.handlers.onZoom(a, b);
      } else {
        const cell = this.cellAt(start.x, start.y);
        if (cell) this.handlers.onRow(cell.row);
      }
    });
    this.canvas.addEventListener('mousemove', (event) => {
      const at = point(event);
      if (press && Math.abs(at.x - press.x) >= DRAG_PIXELS) {
        const left = Math.min(at.x, press.x);
        Object.assign(this.selection.style, {left: `${left}px`, width: `${Math.abs(at.x - press.x)}px`});
        this.selection.style.height = this.canvas.style.height;
        this.selection.hidden = false;
      }
      this.showTooltip(at);
    });
    this.canvas.addEventListener('mouseleave', () => {
      this.tip.hidden = true;
    });
    this.canvas.addEventListener('dblclick', () => this.handlers.onReset());
  }

  showTooltip(at) {
    const cell = this.cellAt(at.x, at.y);
    if (!cell) {
      this.tip.hidden = true;
      return;
    }
    const data = /** @type {HeatData} */ (this.data);
    const row = data.rows[cell.row];
    const first = data.steps[cell.column];
    const last = Math.min(first + data.width - 1, data.window[1]);
    const low = row.low[cell.column];
    const high = row.high[cell.column];
    const value = cellRatio(low, high);
    const rows = [];
    if (value == null) {
      rows.push({color: '', cells: ['ratio', 'none logged']});
    } else if (first === last || low === high) {
      rows.push({color: cssColor(value), cells: ['ratio', formatValue(value)]});
    } else {
      rows.push({color: low > 0 ? cssColor(low) : '', cells: ['lowest', formatValue(low)]});
      rows.push({color: cssColor(high), cells: ['highest', formatValue(high)]});
    }
    if (row.nonfinite.has(cell.column)) rows.push({color: '', cells: ['not finite', 'at some step']});
    renderTooltip(this.tip, {
      title: `${row.label} · ${first === last ? `step ${formatStep(first)}` : `steps ${formatStep(first)}–${formatStep(last)}`}`,
      rows,
    });
    this.tip.hidden = false;
    const x = at.x + 16 + this.tip.offsetWidth > this.host.clientWidth ? Math.max(0, at.x - this.tip.offsetWidth - 16) : at.x + 16;
    this.tip.style.transform = `translate(${Math.round(x)}px, ${Math.round(at.y + 16)}px)`;
  }
}

function cssColor(ratio) {
  return `rgb(${ratioRgb(ratio).join(',')})`;
}

/** `#rgb`, `#rrggbb` or `rgb(...)` as RGB; grey for anything else. */
function parseColor(color) {
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  if (hex) {
    const digits = hex[1].length === 3 ? [...hex[1]].map((d) => d + d) : hex[1].match(/../g);
    return digits.map((d) => parseInt(d, 16));
  }
  const rgb = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(color);
  return rgb ? rgb.slice(1, 4).map(Number) : [128, 128, 128];
}

/** `text` cut to `width` pixels with an ellipsis. */
function ellipsis(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let cut = text.length;
  while (cut > 1 && ctx.measureText('…' + text.slice(text.length - cut)).width > width) cut--;
  // The end of a layer path says most (`.../block_3/dense`).
  return '…' + text.slice(text.length - cut);
}
