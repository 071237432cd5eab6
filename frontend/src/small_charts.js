// The charts below the main one: one per optimizer hyperparameter, and the
// values recorded inside layers, grouped by layer. They share the main
// chart's x axis and window; each fetches its series when it scrolls into
// view, so a run with many recorded values costs nothing until looked at.

import * as api from './api.js';
import {LineChart} from './chart.js';
import * as model from './model.js';
import * as views from './views.js';

/**
 * @typedef {object} Card
 * @property {string} id
 * @property {string} title
 * @property {{run: string, series: string, label: string}[]} lines
 * @property {HTMLElement} node
 * @property {HTMLElement} plot
 * @property {HTMLElement} legend
 * @property {HTMLElement} status
 * @property {HTMLButtonElement} logButton
 * @property {LineChart|null} chart
 * @property {{run: string, series: string, label: string, resp: any}[]} data
 * @property {string} key what the data was fetched for
 * @property {boolean} visible
 * @property {AbortController|null} controller
 */

export class SmallCharts {
  /**
   * @param {HTMLElement} hyperNode
   * @param {HTMLElement} layersNode
   * @param {import('./app.js').App} app
   */
  constructor(hyperNode, layersNode, app) {
    this.hyperNode = hyperNode;
    this.layersNode = layersNode;
    this.app = app;
    /** @type {Map<string, Card>} */
    this.cards = new Map();
    this.structure = '';
    this.generation = 0;
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const card = this.cards.get(entry.target.dataset.chartId);
        if (!card) continue;
        card.visible = entry.isIntersecting;
        if (card.visible) this.load(card);
      }
    }, {rootMargin: '300px'});
  }

  /**
   * Lays out the charts for the selected runs' series and loads the visible ones.
   * @param {ReturnType<typeof model.chartGroups>} groups
   * @param {{force?: boolean}} [options] re-fetch even what is loaded (a refresh)
   */
  update(groups, {force = false} = {}) {
    if (force) this.generation++;
    const specs = [
      ...groups.hyperparameters.map((g) => ({id: `optimizer:${g.key}`, title: g.key, layer: null, lines: g.lines})),
      ...groups.layers.flatMap((group) => group.charts.map((c) => ({
        id: `layer:${group.layer}:${c.key}`, title: c.key, layer: group.layer, lines: c.lines,
      }))),
    ];
    const structure = JSON.stringify(specs.map((s) => s.id));
    if (structure !== this.structure) {
      this.structure = structure;
      this.rebuild(specs, groups);
    } else {
      for (const spec of specs) this.cards.get(spec.id).lines = spec.lines;
    }
    for (const card of this.cards.values()) if (card.visible) this.load(card);
  }

  rebuild(specs, groups) {
    for (const card of this.cards.values()) {
      card.controller?.abort();
      card.chart?.destroy();
      this.observer.unobserve(card.node);
    }
    this.cards.clear();
    for (const spec of specs) this.cards.set(spec.id, this.makeCard(spec));
    const cardsOf = (filter) => specs.filter(filter).map((s) => this.cards.get(s.id).node);

    if (groups.hyperparameters.length === 0) {
      this.hyperNode.replaceChildren();
    } else {
      this.hyperNode.replaceChildren(
          views.el('h2', {className: 'lr-heading', text: 'Optimizer hyperparameters'}),
          views.el('div', {className: 'lr-grid'}, cardsOf((s) => s.layer === null)));
    }
    if (groups.layers.length === 0) {
      this.layersNode.replaceChildren();
    } else {
      this.layersNode.replaceChildren(
          views.el('h2', {className: 'lr-heading', text: 'Values recorded in layers'}),
          ...groups.layers.map((group) => views.el('section', {className: 'lr-layer'}, [
            views.el('h3', {className: 'lr-layer-name', text: group.layer || '(model)'}),
            views.el('div', {className: 'lr-grid'}, cardsOf((s) => s.layer === group.layer)),
          ])));
    }
    for (const card of this.cards.values()) this.observer.observe(card.node);
  }

  /** @returns {Card} */
  makeCard(spec) {
    /** @type {Card} */
    const card = {
      id: spec.id, title: spec.title, lines: spec.lines, chart: null, data: [], key: '',
      visible: false, controller: null,
    };
    card.logButton = views.button('Log', () => {
      const log = !(card.chart?.log);
      card.logButton.setAttribute('aria-pressed', String(log));
      card.chart?.setLog(log);
    }, {className: 'lr-button lr-log-toggle', pressed: false, title: 'Logarithmic y axis'});
    const actions = [
      card.logButton,
      views.button('CSV', () => this.offer(card, 'csv'), {title: 'Download the points shown, as CSV'}),
      views.button('JSON', () => this.offer(card, 'json'), {title: 'Download the points shown, as JSON'}),
      views.button('PNG', () => this.png(card), {title: 'Download the chart as a PNG image'}),
    ];
    const parts = views.chartCard(spec.title, actions, {className: 'lr-small-chart'});
    card.node = parts.card;
    card.node.dataset.chartId = spec.id;
    card.plot = parts.plot;
    card.legend = parts.legend;
    card.status = parts.status;
    return card;
  }

  /**
   * Sets every chart's x window; `redraw` draws the data at hand at once.
   * @param {{min: number, max: number}|null} window
   * @param {boolean} redraw
   */
  setWindow(window, redraw) {
    for (const card of this.cards.values()) {
      if (!card.chart) continue;
      if (redraw) card.chart.setWindow(window);
      else card.chart.window = window;
    }
  }

  /** Re-fetches the visible charts (the x axis or the window changed). */
  invalidate() {
    for (const card of this.cards.values()) if (card.visible) this.load(card);
  }

  restyle() {
    for (const card of this.cards.values()) card.chart?.restyle();
  }

  /** Fetches a card's series for the current window, unless already fetched. */
  async load(card) {
    const key = JSON.stringify([this.app.windowKey(), this.generation, card.lines.map((l) => [l.run, l.series])]);
    if (key === card.key) return;
    card.key = key;
    card.controller?.abort();
    const controller = new AbortController();
    card.controller = controller;
    const maxPoints = this.app.maxPoints();
    const results = await Promise.allSettled(card.lines.map((line) =>
      api.fetchSeries(line.run, line.series, {...this.app.stepWindowOf(line.run), maxPoints}, controller.signal)));
    if (controller.signal.aborted) return;
    const failed = results.filter((r) => r.status === 'rejected');
    card.status.textContent = failed.length ? `Could not load: ${failed[0].reason.message}` : '';
    card.status.classList.toggle('lr-error', failed.length > 0);
    card.data = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') card.data.push({...card.lines[i], resp: result.value});
    });
    this.draw(card);
  }

  draw(card) {
    if (!card.chart) {
      card.chart = new LineChart(card.plot, {
        height: 180,
        formatX: (x) => this.app.formatX(x),
        onZoom: (min, max) => this.app.zoom(min, max),
        onReset: () => this.app.resetZoom(),
        tooltip: (x) => this.tooltip(card, x),
      });
      card.chart.window = this.app.window;
    }
    const lines = [];
    const legend = [];
    const index = new Map();
    for (const line of card.data) {
      const k = index.get(line.run) ?? 0;
      index.set(line.run, k + 1);
      const color = model.lineColor(this.app.colors.get(line.run) || '#888888', k);
      const {steps, values, wall_times: wallTimes, sampling} = line.resp;
      let shown = {steps, values};
      let times = wallTimes;
      if (sampling === 'change') {
        // A held value runs to the run's last step (or the window's end).
        const end = this.endStep(line.run);
        shown = model.extendHold(steps, values, end);
        if (shown.steps.length > steps.length) times = [...(wallTimes || steps.map(() => null)), null];
      }
      lines.push({
        label: line.label, color, stepped: sampling === 'change',
        x: this.app.toX(line.run, shown.steps, times), y: shown.values,
      });
      legend.push({color, label: line.label});
    }
    views.renderLegend(card.legend, legend);
    card.chart.setLines(lines);
  }

  endStep(run) {
    const last = this.app.lastStep(run);
    const window = this.app.stepWindowOf(run);
    if (window.end !== undefined && last != null) return Math.min(last, window.end);
    return last;
  }

  tooltip(card, x) {
    const rows = [];
    const index = new Map();
    for (const line of card.data) {
      const k = index.get(line.run) ?? 0;
      index.set(line.run, k + 1);
      const step = this.app.stepAt(line.run, x);
      const {steps, values, sampling} = line.resp;
      let found = null;
      const last = this.app.lastStep(line.run);
      if (step != null && steps.length && step >= steps[0] && (sampling === 'change' ? last == null || step <= last : step <= steps[steps.length - 1])) {
        found = model.valueAt(steps, values, step, sampling);
      }
      rows.push({
        color: model.lineColor(this.app.colors.get(line.run) || '#888888', k),
        cells: [line.label, model.formatStep(found?.step ?? null), model.formatValue(found?.value ?? null)],
      });
    }
    if (rows.length === 0) return null;
    const title = this.app.xMode === 'time' ? `${model.formatDuration(x)} after start` : `Step ${model.formatStep(Math.round(x))}`;
    return {title, header: ['Run', 'Step', card.title], rows};
  }

  offer(card, format) {
    const lines = card.data.map((l) => ({
      run: l.run, series: l.series, sampling: l.resp.sampling || 'step', downsampled: Boolean(l.resp.downsampled),
      steps: l.resp.steps, values: l.resp.values, wall_times: l.resp.wall_times || null,
    }));
    this.app.offer(lines, format, card.id);
  }

  async png(card) {
    if (!card.chart?.plot) return;
    const legend = card.data.map((l, i) => ({color: card.chart.lines[i]?.color || '#888888', label: l.label}));
    views.download(await card.chart.toPng(card.title, legend), model.fileName(['lr', card.id], 'png'));
  }
}
