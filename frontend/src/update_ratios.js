// The "Update ratio" section: for one run logged with `update_ratios=True`,
// a heat map of every layer's ||w_after - w_before|| / ||w_before|| by step,
// a line chart of the layers picked in it over the healthy guide band, and
// the gradient norm. It follows the main chart's x window; it fetches when
// scrolled into view, so a run without update ratios costs nothing.

import * as api from './api.js';
import {LineChart, themeColors} from './chart.js';
import {PALETTE} from './colors.js';
import {MAX_COLUMNS, SAMPLED_EVERY_STEP, UPDATE_RATIO_PREFIX} from './constants.js';
import {formatStep, formatValue} from './format.js';
import {HeatMap} from './heat_map.js';
import {HEALTHY, firstPicks, scaleGradient, scaleTicks} from './ratio_scale.js';
import {valueAt} from './series_math.js';
import {measuredSeries, skipsBefore} from './series_names.js';
import * as views from './views.js';

export class UpdateRatios {
  /**
   * @param {HTMLElement} node the section to fill
   * @param {{
   *   axis: import('./x_axis.js').XAxis,
   *   maxPoints: () => number,
   *   onZoom: (min: number, max: number) => void,
   *   onReset: () => void,
   *   report: (task: Promise<unknown>) => void,
   * }} host
   */
  constructor(node, host) {
    this.node = node;
    this.host = host;
    this.axis = host.axis;
    /** @type {{name: string, series: string[]}[]} */
    this.runs = [];
    this.run = null;
    /** run -> the layers picked for the line chart */
    this.picked = new Map();
    this.generations = new Map();
    this.key = '';
    this.visible = false;
    this.controller = null;
    this.heat = null;
    this.observer = new IntersectionObserver((entries) => {
      this.visible = entries.some((e) => e.isIntersecting);
      if (this.visible) this.host.report(this.load());
    }, {rootMargin: '300px'});
    this.observer.observe(node);
  }

  /**
   * Shows the section for the selected runs that have update ratios.
   * @param {{name: string, series: string[]}[]} runs the selected runs
   * @param {Set<string>} [changed] runs a refresh found grown
   */
  update(runs, changed = new Set()) {
    for (const run of changed) this.generations.set(run, (this.generations.get(run) || 0) + 1);
    const measured = runs.filter((r) => measuredSeries(r).layers.length > 0);
    const names = measured.map((r) => r.name);
    const same = names.join('\n') === this.runs.map((r) => r.name).join('\n');
    this.runs = measured;
    if (measured.length === 0) {
      this.teardown();
      this.node.hidden = true;
      return;
    }
    this.node.hidden = false;
    if (!this.run || !names.includes(this.run)) this.run = names[0];
    if (!same || !this.heat) this.build();
    if (this.visible) this.host.report(this.load());
  }

  teardown() {
    this.controller?.abort();
    this.heatData = this.heatKey = null;
    this.heat?.destroy();
    this.ratioChart?.destroy();
    this.normChart?.destroy();
    this.heat = this.ratioChart = this.normChart = null;
    this.key = '';
    this.node.replaceChildren();
  }

  build() {
    this.teardown();
    const picker = this.runs.length > 1 ?
      views.runPicker(this.runs.map((r) => r.name), this.run, (name) => {
        this.run = name;
        this.host.report(this.load());
      }) :
      null;
    const heatCard = views.el('div', {className: 'lr-card lr-heat-card'}, [
      views.el('div', {className: 'lr-card-head'}, [
        views.el('h3', {className: 'lr-card-title', text: 'By layer and step'}),
        views.el('span', {
          className: 'lr-card-subtitle',
          text: 'each cell: its steps\' ratio farthest from 1e-3 · click a row to chart it · drag to zoom',
        }),
      ]),
    ]);
    this.heatStatus = views.el('div', {className: 'lr-status', attrs: {role: 'status'}});
    this.heatProblems = views.el('div', {className: 'lr-problems lr-card-problems'});
    const heatHost = views.el('div', {className: 'lr-heat-host'});
    heatCard.append(this.heatStatus, heatHost, scaleLegend(), this.heatProblems);
    this.heat = new HeatMap(heatHost, {
      onZoom: (first, last) => this.zoomToSteps(first, last),
      onReset: this.host.onReset,
      onRow: (index) => this.toggle(this.heatData.layers[index].layer),
    });

    const ratio = views.chartCard('Selected layers', [], {
      className: 'lr-small-chart lr-ratio-chart',
      subtitle: `shaded: ${formatValue(HEALTHY[0])} to ${formatValue(HEALTHY[1])}, the usual healthy range`,
    });
    this.ratioParts = ratio;
    this.ratioChart = this.lineChart(ratio.plot, 'Update ratio of the selected layers',
        (x) => this.tooltip(x, this.ratioLines, 'ratio'));
    const norm = views.chartCard('Gradient norm', [], {
      className: 'lr-small-chart lr-gradient-norm-chart',
      subtitle: 'global, as the optimizer received it (before clipping)',
    });
    this.normParts = norm;
    this.normChart = this.lineChart(norm.plot, 'Gradient norm',
        (x) => this.tooltip(x, this.normLines, 'norm'));

    this.node.replaceChildren(...[
        views.el('h2', {className: 'lr-heading', text: 'Update ratio'}),
        views.el('p', {
          className: 'lr-muted lr-section-note',
          text: '‖w_after − w_before‖ / ‖w_before‖ of each layer at each step: how far the update moved its ' +
            'weights. Around 1e-3 is usual; far above, the rate is too high for that layer; far below, it barely learns.',
        }),
        picker,
        heatCard,
        views.el('div', {className: 'lr-grid lr-ratio-grid'}, [ratio.card, norm.card]),
    ].filter(Boolean));
  }

  /** A chart of this section: log y, the tab's x axis and zoom. */
  lineChart(plot, title, tooltip) {
    const chart = new LineChart(plot, {
      title, height: 200, log: true,
      formatX: (x) => this.axis.formatX(x),
      onZoom: this.host.onZoom,
      onReset: this.host.onReset,
      tooltip,
    });
    chart.window = this.axis.window;
    return chart;
  }

  /**
   * Sets the charts' x window (the heat map re-fetches for it).
   * @param {{min: number, max: number}|null} window
   * @param {boolean} redraw
   */
  setWindow(window, redraw) {
    for (const chart of [this.ratioChart, this.normChart]) {
      if (!chart) continue;
      if (redraw) chart.setWindow(window);
      else chart.window = window;
    }
    if (this.visible && this.heat) this.host.report(this.load());
  }

  restyle() {
    this.ratioChart?.restyle();
    this.normChart?.restyle();
    this.heat?.draw();
  }

  zoomToSteps(first, last) {
    const [x0, x1] = this.axis.toX(this.run, [first, last + 1], null);
    if (x0 != null && x1 != null) this.host.onZoom(x0, x1);
  }

  toggle(layer) {
    const picked = this.picked.get(this.run) || [];
    this.picked.set(this.run, picked.includes(layer) ? picked.filter((l) => l !== layer) : [...picked, layer]);
    this.key = '';
    this.host.report(this.load());
  }

  /** Fetches what the section shows for the current run and window, unless fetched. */
  async load() {
    const run = this.run;
    if (!run || !this.heat) return;
    const window = this.axis.stepWindowOf(run);
    // A column per device pixel of the whole width (the labels' share is not
    // known before the rows are): no refetch once the rows are laid out.
    const columns = Math.max(10, Math.round(this.heat.geometry().width * Math.min(devicePixelRatio || 1, 2)));
    const heatKey = JSON.stringify([run, window, columns, this.axis.mode, this.generations.get(run) || 0]);
    const key = JSON.stringify([heatKey, this.picked.get(run) || null, this.host.maxPoints()]);
    if (key === this.key) return;
    this.key = key;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const signal = controller.signal;
    // The heat map is fetched again only for a new run, window or width; a
    // click on a row refetches the picked layers' lines alone.
    let heat = this.heatKey === heatKey ? this.heatData : null;
    if (!heat) {
      this.heatStatus.textContent = 'Loading…';
      try {
        heat = await api.fetchUpdateRatios(run, {...window, columns: Math.min(columns, MAX_COLUMNS)}, signal);
      } catch (error) {
        if (signal.aborted) return;
        this.heatStatus.textContent = `Could not load: ${error.message}`;
        this.heatStatus.classList.add('lr-error');
        this.key = '';
        return;
      }
    }
    if (signal.aborted) return;
    this.heatStatus.textContent = heat.layers.length && heat.steps.length ? '' : 'No update ratio in this window.';
    this.heatStatus.classList.remove('lr-error');
    views.renderProblems(this.heatProblems, (heat.problems || []).map((p) => ({...p, where: `run ${run}`})));
    if (!this.picked.has(run)) {
      this.picked.set(run, firstPicks(heat.layers));
      this.key = JSON.stringify([heatKey, this.picked.get(run), this.host.maxPoints()]);
    }
    this.heatData = heat;
    this.heatKey = heatKey;
    const picked = this.picked.get(run);
    const colorOf = new Map(picked.map((layer, i) => [layer, PALETTE[i % PALETTE.length]]));
    this.heat.setData({
      rows: heat.layers.map((l) => ({
        label: l.layer, low: l.low, high: l.high, nonfinite: new Set(l.nonfinite), mark: colorOf.get(l.layer) ?? null,
      })),
      steps: heat.steps,
      width: heat.width,
      window: heat.window || [0, 0],
    });
    const {gradientNorms, skippedUpdates} = measuredSeries(this.runs.find((r) => r.name === run) || {series: []});
    const fetchLine = (series, label, color) => api.fetchSeries(run, series, {...window, maxPoints: this.host.maxPoints()}, signal)
        .then((resp) => ({label, color, resp}));
    const [ratios, norms, skips] = await Promise.all([
      Promise.allSettled(picked.map((layer) => fetchLine(UPDATE_RATIO_PREFIX + layer, layer, colorOf.get(layer)))),
      Promise.allSettled(gradientNorms.map((name, i) => fetchLine(name, name, PALETTE[i % PALETTE.length]))),
      // Counts where they change: a few points, fetched whole.
      Promise.allSettled(skippedUpdates.map((name) => api.fetchSeries(run, name, {}, signal))),
    ]);
    if (signal.aborted) return;
    const skipped = skips.flatMap((r) => (r.status === 'fulfilled' ? skipsBefore(r.value) : []));
    const total = skipped.reduce((sum, s) => sum + s.skipped, 0);
    const overlays = {spans: this.skipSpans(skipped)};
    const skipNote = total ? `${total} update${total === 1 ? '' : 's'} skipped on overflow ` +
      '(LossScaleOptimizer): marked along the top' : null;
    this.skipped = skipped;
    this.ratioLines = this.drawLines(this.ratioChart, this.ratioParts, ratios,
        {...overlays, bands: [{y0: HEALTHY[0], y1: HEALTHY[1]}]}, skipNote,
        picked.length ? '' : 'Click a row of the heat map to chart its layer.');
    this.normLines = this.drawLines(this.normChart, this.normParts, norms, overlays, skipNote, '');
  }

  /** Strips along the top of a chart at the steps updates were skipped before. */
  skipSpans(skipped) {
    const color = themeColors().error;
    return skipped.map(({step}) => {
      const [x0, x1] = this.axis.toX(this.run, [Math.max(0, step - 1), step], null);
      return {x0, x1, color};
    }).filter((span) => span.x0 != null && span.x1 != null);
  }

  drawLines(chart, parts, results, overlays, note, emptyNote) {
    const failed = results.filter((r) => r.status === 'rejected');
    const lines = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    parts.status.textContent = failed.length ? `Could not load: ${failed[0].reason.message}` : emptyNote;
    parts.status.classList.toggle('lr-error', failed.length > 0);
    views.renderLegend(parts.legend, lines.map((l) => ({color: l.color, label: l.label})), note);
    const band = themeColors().accentWeak;
    chart.setLines(lines.map((l) => ({
      label: l.label, color: l.color, x: this.axis.toX(this.run, l.resp.steps, l.resp.wall_times), y: l.resp.values,
    })), {...overlays, bands: (overlays.bands || []).map((b) => ({...b, color: band}))});
    return lines;
  }

  tooltip(x, lines, what) {
    const step = this.axis.stepAt(this.run, x);
    if (step == null || !lines) return null;
    const rows = [];
    for (const line of lines) {
      const {steps, values} = line.resp;
      if (!steps.length || step < steps[0] || step > steps[steps.length - 1]) continue;
      const found = valueAt(steps, values, step, SAMPLED_EVERY_STEP);
      if (found) rows.push({color: line.color, cells: [line.label, formatStep(found.step), formatValue(found.value)]});
    }
    const skip = (this.skipped || []).find((s) => s.step === step);
    if (skip) rows.push({color: '', cells: ['skipped before this step', '', String(skip.skipped)]});
    return rows.length ? {title: this.axis.title(x), header: ['', 'Step', what], rows} : null;
  }
}

/** The colour scale's legend: the gradient, its decades, the healthy range and the special cells. */
function scaleLegend() {
  const bar = views.el('div', {className: 'lr-heat-scale-bar'});
  bar.style.background = scaleGradient();
  const ticks = views.el('div', {className: 'lr-heat-scale-ticks'}, scaleTicks().map((tick) => {
    const label = views.el('span', {text: tick.label});
    label.style.left = `${tick.at * 100}%`;
    return label;
  }));
  const special = (className, text) => views.el('span', {className: 'lr-legend-item'}, [
    views.el('span', {className: `lr-heat-swatch ${className}`}), views.el('span', {text}),
  ]);
  return views.el('div', {className: 'lr-heat-legend', attrs: {'aria-label': 'Colour scale'}}, [
    views.el('span', {className: 'lr-muted', text: 'update ratio (log)'}),
    views.el('div', {className: 'lr-heat-scale'}, [bar, ticks]),
    special('lr-heat-nonfinite', 'not finite'),
    special('lr-heat-empty', 'not logged'),
  ]);
}
