// The charts below the main one: one per optimizer hyperparameter, and the
// values recorded inside layers, grouped by layer. They share the main
// chart's x axis and window; each fetches its series when it scrolls into
// view, so a run with many recorded values costs nothing until looked at.

import * as api from './api.js';
import {LineChart} from './chart.js';
import {SAMPLED_ON_CHANGE} from './constants.js';
import {lineColor} from './colors.js';
import {exportLine, fileName, offerLines} from './downloads.js';
import {formatStep, formatValue} from './format.js';
import {extendHold, valueAt} from './series_math.js';
import * as views from './views.js';

/**
 * @typedef {object} Card
 * @property {string} id
 * @property {string} title
 * @property {string|null} layer
 * @property {{run: string, series: string, label: string}[]} lines
 * @property {HTMLElement} node
 * @property {HTMLElement} plot
 * @property {HTMLElement} legend
 * @property {HTMLElement} status
 * @property {HTMLElement} problems the server's problems with its series
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
   * @param {{
   *   axis: import('./x_axis.js').XAxis,
   *   maxPoints: () => number,
   *   onZoom: (min: number, max: number) => void,
   *   onReset: () => void,
   *   report: (task: Promise<unknown>) => void,
   *   wholeSeries: (run: string, series: string) => any,
   * }} host the x axis these charts share with the main one, how many points
   *   to fetch, what a zoom does, where a failed task is reported, a series
   *   already fetched whole (hyperparameters come with each run's marks)
   */
  constructor(hyperNode, layersNode, host) {
    this.hyperNode = hyperNode;
    this.layersNode = layersNode;
    this.host = host;
    this.axis = host.axis;
    /** @type {Map<string, string>} */
    this.runColors = new Map();
    /** @type {Map<string, Card>} */
    this.cards = new Map();
    this.structure = '';
    this.colors = '';
    /** run -> how many times a refresh found it grown: what was fetched before is stale */
    this.generations = new Map();
    /** [run, series, generation] -> a hyperparameter's whole series (a promise) */
    this.fetchedWhole = new Map();
    this.layouts = 0;
    this.observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        const card = this.cards.get(entry.target.dataset.chartId);
        if (!card) continue;
        card.visible = entry.isIntersecting;
        if (card.visible) this.host.report(this.load(card));
      }
    }, {rootMargin: '300px'});
  }

  /**
   * Lays out the charts for the selected runs' series and loads the visible ones.
   * @param {ReturnType<typeof import('./series_names.js').chartGroups>} groups
   * @param {{changed?: Set<string>, colors?: Map<string, string>}} [options] runs to fetch
   *   again (a refresh found them grown); every run's colour
   */
  update(groups, {changed = new Set(), colors = this.runColors} = {}) {
    this.runColors = colors;
    for (const run of changed) this.generations.set(run, (this.generations.get(run) || 0) + 1);
    const layout = ++this.layouts;
    this.host.report(this.constantHyperparameters(groups.hyperparameters).then((constant) => {
      if (layout === this.layouts) this.layOut(groups, constant);
    }));
  }

  /**
   * The hyperparameters that keep one value through each selected run: a
   * table says them better than flat lines. Their whole series come with
   * each run's marks (`wholeSeries`); one missing there is fetched alone.
   * @param {{key: string, lines: {run: string, series: string, label: string}[]}[]} groups
   * @returns {Promise<Map<string, Map<string, number|null>>>} key -> line label -> its value
   */
  async constantHyperparameters(groups) {
    const constant = new Map();
    await Promise.all(groups.map(async (group) => {
      const values = new Map();
      for (const line of group.lines) {
        const resp = this.host.wholeSeries(line.run, line.series) ?? await this.fetchWhole(line);
        const distinct = new Set(resp?.values || []);
        if (!resp || resp.problems?.length || distinct.size > 1) return; // Changes (or unknown): a chart.
        values.set(line.label, distinct.size ? [...distinct][0] : null);
      }
      constant.set(group.key, values);
    }));
    return constant;
  }

  /** A series fetched whole (once per run generation), or null when it cannot be. */
  fetchWhole(line) {
    const key = JSON.stringify([line.run, line.series, this.generations.get(line.run) || 0]);
    if (!this.fetchedWhole.has(key)) {
      this.fetchedWhole.set(key, api.fetchSeries(line.run, line.series).catch(() => null));
    }
    return this.fetchedWhole.get(key);
  }

  /**
   * @param {ReturnType<typeof import('./series_names.js').chartGroups>} groups
   * @param {Map<string, Map<string, number|null>>} constant
   */
  layOut(groups, constant) {
    const hyperparameters = groups.hyperparameters.filter((g) => !constant.has(g.key));
    const specs = [
      ...hyperparameters.map((g) => ({id: `optimizer:${g.key}`, title: g.key, layer: null, lines: g.lines})),
      ...groups.layers.flatMap((group) => group.charts.map((c) => ({
        id: `layer:${group.layer}:${c.key}`, title: c.key, layer: group.layer, lines: c.lines,
      }))),
    ];
    const structure = JSON.stringify([specs.map((s) => s.id), [...constant].map(([k, v]) => [k, [...v]])]);
    if (structure !== this.structure) {
      this.structure = structure;
      this.rebuild(specs, groups, constant);
    } else {
      for (const spec of specs) this.cards.get(spec.id).lines = spec.lines;
    }
    // Colours follow the run list: a new run can shift them; redraw what is loaded.
    const colorsKey = JSON.stringify([...this.runColors]);
    if (colorsKey !== this.colors) {
      this.colors = colorsKey;
      for (const card of this.cards.values()) if (card.chart) this.draw(card);
    }
    for (const card of this.cards.values()) if (card.visible) this.host.report(this.load(card));
  }

  rebuild(specs, groups, constant) {
    // Cards that stay keep their chart and data; only new ones start empty.
    const ids = new Set(specs.map((s) => s.id));
    for (const [id, card] of this.cards) {
      if (ids.has(id)) continue;
      card.controller?.abort();
      card.chart?.destroy();
      this.observer.unobserve(card.node);
      this.cards.delete(id);
    }
    for (const spec of specs) {
      const card = this.cards.get(spec.id);
      if (card) card.lines = spec.lines;
      else this.cards.set(spec.id, this.makeCard(spec));
    }
    const cardsOf = (filter) => specs.filter(filter).map((s) => this.cards.get(s.id).node);

    if (groups.hyperparameters.length === 0) {
      this.hyperNode.replaceChildren();
    } else {
      const charts = cardsOf((s) => s.layer === null);
      this.hyperNode.replaceChildren(
          views.el('h2', {className: 'lr-heading', text: 'Optimizer hyperparameters'}),
          ...(constant.size ? [views.constantsTable(constant, 'constant through each run')] : []),
          ...(charts.length ? [views.el('div', {className: 'lr-grid'}, charts)] : []));
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
      id: spec.id, title: spec.title, layer: spec.layer, lines: spec.lines, chart: null, data: [], key: '',
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
      views.button('PNG', () => this.host.report(this.png(card)), {title: 'Download the chart as a PNG image'}),
    ];
    const parts = views.chartCard(spec.title, actions, {className: 'lr-small-chart'});
    card.node = parts.card;
    card.node.dataset.chartId = spec.id;
    card.plot = parts.plot;
    card.legend = parts.legend;
    card.status = parts.status;
    card.problems = parts.problems;
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

  restyle() {
    for (const card of this.cards.values()) card.chart?.restyle();
  }

  /** Fetches a card's series for the current window, unless already fetched. */
  async load(card) {
    const windowKey = this.axis.key(this.host.maxPoints());
    const generation = (run) => this.generations.get(run) || 0;
    const key = JSON.stringify([windowKey, card.lines.map((l) => [l.run, l.series, generation(l.run)])]);
    if (key === card.key) return;
    card.key = key;
    card.controller?.abort();
    const controller = new AbortController();
    card.controller = controller;
    const maxPoints = this.host.maxPoints();
    const results = await Promise.allSettled(card.lines.map((line) => {
      const given = this.host.wholeSeries(line.run, line.series);
      if (given) return {...given, generation: generation(line.run), windowKey, whole: !given.downsampled};
      const kept = card.data.find((d) => d.run === line.run && d.series === line.series)?.resp;
      // Kept: what was fetched for this window, and a change-sampled series (a
      // hyperparameter) fetched whole, which serves every window; unless the run grew.
      if (kept && kept.generation === generation(line.run) &&
          (kept.windowKey === windowKey || (kept.sampling === SAMPLED_ON_CHANGE && kept.whole))) {
        return kept;
      }
      const window = this.axis.stepWindowOf(line.run);
      return api.fetchSeries(line.run, line.series, {...window, maxPoints}, controller.signal).then((resp) =>
        Object.assign(resp, {
          generation: generation(line.run),
          windowKey,
          whole: window.start === undefined && !resp.downsampled,
        }));
    }));
    if (controller.signal.aborted) return;
    const failed = results.filter((r) => r.status === 'rejected');
    card.status.textContent = failed.length ? `Could not load: ${failed[0].reason.message}` : '';
    card.status.classList.toggle('lr-error', failed.length > 0);
    card.data = [];
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') card.data.push({...card.lines[i], resp: result.value});
    });
    views.renderProblems(card.problems, card.data.flatMap((line) => (line.resp.problems || []).map(
        (problem) => ({...problem, where: `run ${line.run}, ${line.series}`}))));
    this.draw(card);
  }

  draw(card) {
    if (!card.chart) {
      card.chart = new LineChart(card.plot, {
        title: card.layer ? `${card.layer}/${card.title}` : card.title,
        height: 180,
        formatX: (x) => this.axis.formatX(x),
        onZoom: this.host.onZoom,
        onReset: this.host.onReset,
        tooltip: (x) => this.tooltip(card, x),
      });
      card.chart.window = this.axis.window;
    }
    const lines = [];
    const legend = [];
    const index = new Map();
    for (const line of card.data) {
      const k = index.get(line.run) ?? 0;
      index.set(line.run, k + 1);
      const color = lineColor(this.runColors.get(line.run) || '#888888', k);
      const {steps, values, wall_times: wallTimes, sampling} = line.resp;
      let shown = {steps, values};
      let times = wallTimes;
      if (sampling === SAMPLED_ON_CHANGE) {
        // A held value runs to the run's last step (or the window's end).
        const end = this.endStep(line.run);
        shown = extendHold(steps, values, end);
        if (shown.steps.length > steps.length) times = [...(wallTimes || steps.map(() => null)), null];
      }
      lines.push({
        label: line.label, color, stepped: sampling === SAMPLED_ON_CHANGE,
        x: this.axis.toX(line.run, shown.steps, times), y: shown.values,
      });
      legend.push({color, label: line.label});
    }
    views.renderLegend(card.legend, legend);
    card.chart.setLines(lines);
  }

  endStep(run) {
    const last = this.axis.lastStep(run);
    const window = this.axis.stepWindowOf(run);
    if (window.end !== undefined && last != null) return Math.min(last, window.end);
    return last;
  }

  tooltip(card, x) {
    const rows = [];
    const index = new Map();
    for (const line of card.data) {
      const k = index.get(line.run) ?? 0;
      index.set(line.run, k + 1);
      const step = this.axis.stepAt(line.run, x);
      const {steps, values, sampling} = line.resp;
      let found = null;
      const last = this.axis.lastStep(line.run);
      const end = sampling === SAMPLED_ON_CHANGE ? last ?? Infinity : steps[steps.length - 1];
      if (step != null && steps.length && step >= steps[0] && step <= end) {
        found = valueAt(steps, values, step, sampling);
      }
      if (!found) continue; // The run has nothing here (it is shorter).
      rows.push({
        color: lineColor(this.runColors.get(line.run) || '#888888', k),
        cells: [line.label, formatStep(found.step), formatValue(found.value)],
      });
    }
    if (rows.length === 0) return null;
    return {title: this.axis.title(x), header: ['Run', 'Step', card.title], rows};
  }

  offer(card, format) {
    offerLines(card.data.map((l) => exportLine(l.run, l.series, l.resp)), format, card.id, this.axis);
  }

  async png(card) {
    if (!card.chart?.plot) return;
    const legend = card.data.map((l, i) => ({color: card.chart.lines[i]?.color || '#888888', label: l.label}));
    views.download(await card.chart.toPng(card.title, legend), fileName(['lr', card.id], 'png'));
  }
}
