// The LR tab's controller: which runs are selected, which x window is shown,
// what to fetch for it, and when to redraw. Data shaping lives in small modules of pure functions,
// DOM building in views.js, the chart in chart.js.

import * as api from './api.js';
import {LineChart} from './chart.js';
import {lineColor, runColors} from './colors.js';
import {EPOCH, LEARNING_RATE, MIN_MAX_POINTS} from './constants.js';
import {maxPointsFor, rangeKey} from './data_loading.js';
import {deviationRows} from './deviation_rows.js';
import {fileName, linesToRows, toCsv} from './downloads.js';
import {formatAxisStep, formatDuration, formatRatio, formatStep, formatValue} from './format.js';
import {compileFilter, nextSelection} from './run_selection.js';
import {epochBoundaries, interpolateAt, valueAt} from './series_math.js';
import {chartGroups, classifySeries, optimizerOf, scheduleNameFor} from './series_names.js';
import {relativeTimeToStep, relativeX, stepWindow} from './x_axis.js';
import {SmallCharts} from './small_charts.js';
import * as views from './views.js';

const PREFS_KEY = 'tb-lr-plugin.prefs';
// TensorBoard reloads its logdir every 30 s by default.
const REFRESH_INTERVAL_MS = 30000;

/** Performance marks and measures (read by bench/frontend_render.py). */
export const MARKS = {
  mainChart: 'lr:main-chart',
  firstRender: 'lr:first-render',
  zoomStart: 'lr:zoom-start',
  zoomRedraw: 'lr:zoom-redraw',
  zoomRefetch: 'lr:zoom-refetch',
  fetch: 'lr:fetch',
  draw: 'lr:draw-main',
};

/** Resolves after the browser has painted the current frame. */
function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function isAbort(error) {
  return error?.name === 'AbortError';
}

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(PREFS_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

export class App {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    this.parts = views.layout(root);
    const prefs = loadPrefs();
    /** @type {{name: string, series: string[], schedule: boolean, optimizers?: string[]}[]} */
    this.runs = [];
    this.colors = new Map();
    this.known = new Set();
    this.selected = new Set();
    this.deselected = new Set(Array.isArray(prefs.deselected) ? prefs.deselected : []);
    this.filterText = typeof prefs.filter === 'string' ? prefs.filter : '';
    this.filter = compileFilter(this.filterText);
    this.xMode = prefs.xMode === 'time' ? 'time' : 'step';
    this.autoRefresh = prefs.autoRefresh !== false;
    /** @type {{min: number, max: number} | null} x window, in the x axis' units */
    this.window = null;
    /** run -> its curves (learning rates, schedules) fetched for the current window */
    this.cache = new Map();
    /** run -> its epochs and deviations (whole run) */
    this.marks = new Map();
    /** run -> full-range (steps, wall times) of its learning rate: the step/time mapping */
    this.timeRefs = new Map();
    this.loads = 0;
    this.controller = null;
    this.firstRenderDone = false;
    this.lastDeviationsKey = '';
    this.lastSchedulesKey = '';
    this.listingProblems = [];
    this.lastProblemsKey = '';

    // `refreshSeconds` has no control on the page; it is set in localStorage by hand (or a test).
    const seconds = Number(prefs.refreshSeconds);
    this.refreshMs = seconds >= 1 ? seconds * 1000 : REFRESH_INTERVAL_MS;
    this.refreshSeconds = seconds >= 1 ? seconds : undefined;

    this.buildToolbar();
    this.buildMainCard(Boolean(prefs.mainLog));
    this.small = new SmallCharts(this.parts.hyperparameters, this.parts.layers, this);
    this.watchColorScheme();
    this.timer = setInterval(() => {
      if (this.autoRefresh && !document.hidden) this.guard(this.refresh());
    }, this.refreshMs);
  }

  // ---------------------------------------------------------------- building

  buildToolbar() {
    const modeButton = (mode, label) => views.button(label, () => this.setXMode(mode), {
      className: 'lr-button lr-segment', pressed: this.xMode === mode, title: `x axis: ${label.toLowerCase()}`,
    });
    this.stepButton = modeButton('step', 'Step');
    this.timeButton = modeButton('time', 'Relative time');
    this.resetButton = views.button('Reset zoom', () => this.guard(this.resetZoom()), {title: 'Show every step (or double-click a chart)'});
    this.resetButton.disabled = true;
    const refresh = views.button('Refresh', () => this.guard(this.refresh({everything: true})), {title: 'Fetch everything again now'});
    const auto = /** @type {HTMLInputElement} */ (views.el('input', {attrs: {type: 'checkbox'}}));
    auto.checked = this.autoRefresh;
    auto.addEventListener('change', () => {
      this.autoRefresh = auto.checked;
      this.savePrefs();
    });
    this.statusNode = views.el('span', {className: 'lr-status-text', attrs: {role: 'status', 'aria-live': 'polite'}});
    this.parts.toolbar.replaceChildren(
        views.el('span', {className: 'lr-toolbar-label', text: 'X axis'}),
        views.el('span', {className: 'lr-segmented'}, [this.stepButton, this.timeButton]),
        this.resetButton,
        views.el('span', {className: 'lr-spacer'}),
        this.statusNode,
        refresh,
        views.el('label', {className: 'lr-check', title: `Fetch new data every ${this.refreshMs / 1000} s`}, [
          auto, document.createTextNode('Auto-refresh'),
        ]));
  }

  buildMainCard(log) {
    this.logButton = views.button('Log scale', () => this.setMainLog(!this.mainChart.log), {
      className: 'lr-button lr-log-toggle', pressed: log, title: 'Logarithmic y axis',
    });
    const actions = [
      this.logButton,
      views.button('CSV', () => this.downloadMain('csv'), {title: 'Download the points shown, as CSV', className: 'lr-button lr-download-csv'}),
      views.button('JSON', () => this.downloadMain('json'), {title: 'Download the points shown, as JSON', className: 'lr-button lr-download-json'}),
      views.button('PNG', () => this.guard(this.downloadMainPng()), {title: 'Download the chart as a PNG image', className: 'lr-button lr-download-png'}),
    ];
    const {card, plot, legend, status} = views.chartCard('Learning rate', actions, {
      className: 'lr-main-chart',
      subtitle: 'applied per step (solid) over the configured schedule (dashed)',
    });
    this.mainLegend = legend;
    this.mainStatus = status;
    this.deviationsNode = views.el('aside', {className: 'lr-card lr-deviations', attrs: {'aria-label': 'Deviations'}});
    this.parts.main.replaceChildren(views.el('div', {className: 'lr-main-row'}, [card, this.deviationsNode]));
    this.mainChart = new LineChart(plot, {
      title: 'Learning rate',
      height: 360,
      log,
      linearFromZero: true,
      formatX: (x) => this.formatX(x),
      onZoom: (min, max) => this.guard(this.zoom(min, max)),
      onReset: () => this.guard(this.resetZoom()),
      tooltip: (x) => this.mainTooltip(x),
    });
  }

  setMainLog(log) {
    this.mainChart.setLog(log);
    this.logButton.setAttribute('aria-pressed', String(log));
    this.savePrefs();
  }

  watchColorScheme() {
    const query = matchMedia('(prefers-color-scheme: dark)');
    // The CSS follows by itself; canvas colours are read when a chart is built.
    query.addEventListener('change', () => {
      this.mainChart.restyle();
      this.small.restyle();
    });
  }

  savePrefs() {
    try {
      localStorage.setItem(PREFS_KEY, JSON.stringify({
        filter: this.filterText,
        xMode: this.xMode,
        mainLog: this.mainChart?.log || false,
        autoRefresh: this.autoRefresh,
        deselected: [...this.deselected].slice(0, 1000),
        refreshSeconds: this.refreshSeconds,
      }));
    } catch {
      // Storage may be off (private mode): preferences just do not persist.
    }
  }

  /**
   * Runs a task started by the user or a timer; a failure shows in the
   * toolbar instead of escaping as an unhandled rejection.
   * @param {Promise<unknown>} task
   */
  guard(task) {
    task.catch((error) => {
      if (!isAbort(error)) this.setStatus(`Something went wrong: ${error.message}`, true);
    });
  }

  setStatus(text, error = false) {
    this.statusNode.textContent = text;
    this.statusNode.classList.toggle('lr-error', error);
  }

  // -------------------------------------------------------------- lifecycle

  /**
   * First load: the run list, then everything for the selected runs.
   * @param {object|Error} [listing] the `runs` answer (or its error) if already fetched
   */
  async start(listing) {
    await this.refresh({initial: true, listing});
  }

  /**
   * Fetches the run list and the data of the selected runs in the current
   * window again: a live training's new steps, runs and deviations show up
   * without reloading the page, and the zoom is kept.
   * @param {{initial?: boolean, everything?: boolean, listing?: object|Error}} [options]
   *   `everything`: re-fetch every selected run, not only those that grew
   */
  async refresh({initial = false, everything = false, listing} = {}) {
    if (this.refreshing) {
      // One more pass after the current one (a click during an auto-refresh is not lost).
      this.again = {everything: everything || Boolean(this.again?.everything)};
      return;
    }
    this.refreshing = true;
    try {
      this.setStatus('Loading…');
      try {
        listing ??= await api.fetchRuns();
        if (listing instanceof Error) throw listing;
      } catch (error) {
        this.setStatus(`Could not list runs: ${error.message}`, true);
        if (initial) await this.markRendered();
        return;
      }
      this.applyRunList(listing, initial);
      if (this.runs.length > 0) {
        const changed = initial ? new Set() :
          everything ? new Set(this.runs.map((r) => r.name)) : await this.changedRuns();
        await this.loadAndDraw({force: changed});
      } else {
        await this.markRendered();
      }
      const time = new Date().toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
      this.setStatus(`Updated ${time}`);
    } finally {
      this.refreshing = false;
    }
    const again = this.again;
    this.again = null;
    if (again) await this.refresh(again);
  }

  applyRunList(listing, initial) {
    const runs = Array.isArray(listing?.runs) ? listing.runs : [];
    const names = runs.map((r) => r.name);
    if (initial) {
      this.selected = new Set(names.filter((n) => !this.deselected.has(n)));
    } else {
      this.selected = nextSelection(this.known, this.selected, names);
    }
    this.known = new Set(names);
    this.runs = runs;
    this.colors = runColors(names);
    for (const map of [this.cache, this.marks]) {
      for (const name of map.keys()) if (!this.known.has(name)) map.delete(name);
    }
    this.listingProblems = listing?.problems || [];
    this.renderProblems();
    const empty = runs.length === 0;
    this.parts.empty.hidden = !empty;
    for (const key of ['main', 'schedules', 'hyperparameters', 'layers']) this.parts[key].hidden = empty;
    if (empty) views.renderEmptyState(this.parts.empty);
    this.renderRunList();
  }

  renderRunList() {
    const counts = new Map();
    for (const [run, marks] of this.marks) counts.set(run, marks.deviations?.events?.length || 0);
    views.renderRunList(this.parts.sidebar, {
      runs: this.runs,
      colors: this.colors,
      selected: this.selected,
      filter: this.filterText,
      filterError: this.filter.error,
      visible: (name) => this.filter.test(name),
      deviations: counts,
    }, {
      onFilter: (text) => {
        this.filterText = text;
        this.filter = compileFilter(text);
        this.savePrefs();
        this.renderRunList();
      },
      onToggle: (name, on) => this.setSelected([name], on),
      onAll: (on) => this.setSelected(this.runs.map((r) => r.name).filter((n) => this.filter.test(n)), on),
    });
  }

  setSelected(names, on) {
    for (const name of names) {
      if (on) {
        this.selected.add(name);
        this.deselected.delete(name);
      } else {
        this.selected.delete(name);
        this.deselected.add(name);
      }
    }
    this.savePrefs();
    this.renderRunList();
    this.guard(this.loadAndDraw({}));
  }

  selectedRuns() {
    return this.runs.filter((r) => this.selected.has(r.name));
  }

  // ------------------------------------------------------------------ x axis

  setXMode(mode) {
    if (mode === this.xMode) return;
    this.xMode = mode;
    this.stepButton.setAttribute('aria-pressed', String(mode === 'step'));
    this.timeButton.setAttribute('aria-pressed', String(mode === 'time'));
    this.savePrefs();
    // A window in steps means nothing in seconds: show everything.
    this.window = null;
    this.resetButton.disabled = true;
    this.mainChart.window = null;
    this.small.setWindow(null, false);
    this.guard(this.loadAndDraw({}));
  }

  formatX(x) {
    return this.xMode === 'time' ? formatDuration(x) : formatAxisStep(x);
  }

  /**
   * x values of a run's points on the current axis.
   * @param {string} run
   * @param {number[]} steps
   * @param {(number|null)[]} [wallTimes]
   */
  toX(run, steps, wallTimes) {
    if (this.xMode === 'step') return steps;
    const ref = this.timeRefs.get(run);
    if (!ref) return steps.map(() => null);
    return relativeX(steps, wallTimes, ref.steps, ref.wall_times);
  }

  /** The step of `run` at x on the current axis (null where it has none). */
  stepAt(run, x) {
    if (this.xMode === 'step') return Math.round(x);
    const ref = this.timeRefs.get(run);
    if (!ref) return null;
    const step = relativeTimeToStep(x, ref.steps, ref.wall_times);
    return step == null ? null : Math.round(step);
  }

  /** The step window of `run` to fetch for the x window, or {} for everything. */
  stepWindowOf(run) {
    if (!this.window) return {};
    if (this.xMode === 'step') return stepWindow(this.window.min, this.window.max);
    const ref = this.timeRefs.get(run);
    if (!ref) return {};
    const a = relativeTimeToStep(this.window.min, ref.steps, ref.wall_times);
    const b = relativeTimeToStep(this.window.max, ref.steps, ref.wall_times);
    return a == null || b == null ? {} : stepWindow(a, b);
  }

  /** The last step a run logged (a held value is drawn up to it). */
  lastStep(run) {
    const ref = this.timeRefs.get(run);
    if (ref?.last != null) return ref.last;
    const data = this.cache.get(run);
    const range = data?.lr[0]?.resp.step_range;
    return range ? range[1] : null;
  }

  /** Points to ask for per line, from the main chart's width. */
  maxPoints() {
    return maxPointsFor(this.mainChart.width() || 800, devicePixelRatio);
  }

  // -------------------------------------------------------------- zooming

  /**
   * Zooms every chart to [min, max] at once (the data at hand, drawn at the
   * new scale), then re-fetches the window at full resolution.
   * @param {number} min
   * @param {number} max
   */
  async zoom(min, max) {
    if (!(max > min)) return;
    performance.mark(MARKS.zoomStart);
    this.window = {min, max};
    this.resetButton.disabled = false;
    const drawn = this.mainChart.setWindow(this.window);
    this.small.setWindow(this.window, true);
    await drawn;
    performance.measure(MARKS.zoomRedraw, MARKS.zoomStart);
    const done = await this.loadAndDraw({});
    if (done) {
      await afterPaint();
      performance.measure(MARKS.zoomRefetch, MARKS.zoomStart);
    }
  }

  async resetZoom() {
    if (!this.window) return;
    this.window = null;
    this.resetButton.disabled = true;
    this.mainChart.window = null;
    this.small.setWindow(null, false);
    await this.loadAndDraw({});
  }

  // --------------------------------------------------------------- loading

  windowKey() {
    // Without a window the data is the same on either axis; only x changes.
    return JSON.stringify([this.window ? this.xMode : null, this.window, this.maxPoints()]);
  }

  /**
   * The selected runs that logged new steps since they were fetched: one tiny
   * request per run (the step range of its learning rate), so that a refresh
   * re-fetches only what a live training changed.
   * @returns {Promise<Set<string>>}
   */
  async changedRuns() {
    const changed = new Set();
    await Promise.all(this.selectedRuns().map(async (info) => {
      const data = this.cache.get(info.name);
      const lr = classifySeries(info.series, info.optimizers || []).learningRates[0];
      if (!data || !lr || data.lr.length === 0) {
        changed.add(info.name);
        return;
      }
      try {
        const probe = await api.fetchSeries(info.name, lr.name, {maxPoints: MIN_MAX_POINTS});
        if (rangeKey(probe) !== data.rangeKey) changed.add(info.name);
      } catch {
        changed.add(info.name); // The load will say what is wrong.
      }
    }));
    return changed;
  }

  /**
   * Fetches what the main chart needs for every selected run in the current
   * window (what is cached for this window is reused, except for the runs in
   * `force`), then draws the chart, the deviations and the schedule panels.
   *
   * Curves (learning rates, schedules) are asked for first and drawn as soon
   * as they are in; marks (epochs, deviations), which do not depend on the
   * window, follow in the same burst and are drawn over them.
   * @param {{force?: Set<string>}} options
   * @returns {Promise<boolean>} false when a newer load superseded this one
   */
  async loadAndDraw({force = new Set()}) {
    this.controller?.abort();
    const controller = new AbortController();
    const signal = controller.signal;
    this.controller = controller;
    const key = this.windowKey();
    const runs = this.selectedRuns();
    const stale = runs.filter((r) => force.has(r.name) || this.cache.get(r.name)?.key !== key);
    const unmarked = runs.filter((r) => force.has(r.name) || !this.marks.has(r.name));
    if (stale.length > 0) this.mainStatus.textContent = 'Loading…';
    const fetchStart = performance.now();
    // Issued in this order, so the browser sends every curve request first.
    const curves = Promise.allSettled(stale.map((r) => this.loadCurves(r, key, signal)));
    const marks = Promise.allSettled(unmarked.map((r) => this.loadMarks(r, signal)));
    const curveResults = await curves;
    if (signal.aborted) return false;
    await this.redrawMain();
    if (!performance.getEntriesByName(MARKS.mainChart).length && this.mainLineData.length > 0) {
      performance.mark(MARKS.mainChart);
    }
    const markResults = await marks;
    if (signal.aborted) return false;
    performance.measure(MARKS.fetch, {start: fetchStart});
    const failures = [...curveResults, ...markResults].filter((r) => r.status === 'rejected' && !isAbort(r.reason));
    this.mainStatus.textContent = failures.length ?
      `Could not load ${failures.length} part${failures.length === 1 ? '' : 's'}: ${failures[0].reason.message}` : '';
    this.mainStatus.classList.toggle('lr-error', failures.length > 0);
    const drawStart = performance.now();
    if (unmarked.length > 0) await this.mainChart.setOverlays(this.mainLines().overlays);
    performance.measure(MARKS.draw, {start: drawStart});
    this.renderSidePanels();
    this.renderRunList();
    this.small.update(chartGroups(this.selectedRuns()), {changed: force});
    await this.markRendered();
    return true;
  }

  /** Counts a finished load; the first one is the page's first full render. */
  async markRendered() {
    this.loads++;
    this.root.dataset.loads = String(this.loads);
    if (!this.firstRenderDone) {
      this.firstRenderDone = true;
      await afterPaint();
      performance.mark(MARKS.firstRender);
      this.root.dataset.ready = 'true';
    }
  }

  /** Fetches one run's learning rates and schedules for the current window. */
  async loadCurves(info, key, signal) {
    const run = info.name;
    const kinds = classifySeries(info.series, info.optimizers || []);
    const maxPoints = this.maxPoints();
    if (this.xMode === 'time' && this.window && !this.timeRefs.has(run) && kinds.learningRates.length) {
      // Steps of a time window come from the run's step/time mapping: get it first.
      const full = await api.fetchSeries(run, kinds.learningRates[0].name, {maxPoints}, signal);
      this.setTimeRef(run, full);
    }
    const window = {...this.stepWindowOf(run), maxPoints};
    const optimizers = info.schedule ? ((info.optimizers || []).length > 1 ? info.optimizers : [null]) : [];
    const [lr, schedules] = await Promise.all([
      Promise.all(kinds.learningRates.map(async (s) => ({
        ...s, resp: await api.fetchSeries(run, s.name, window, signal),
      }))),
      Promise.all(optimizers.map((optimizer) =>
        api.fetchSchedule(run, {optimizer, ...window}, signal).catch((error) => {
          if (error.status === 404) return null; // An optimizer without a schedule.
          throw error;
        }))),
    ]);
    if (lr.length > 0 && window.start === undefined) this.setTimeRef(run, lr[0].resp);
    this.cache.set(run, {
      key,
      // What a refresh compares with to tell whether the run grew.
      rangeKey: lr.length > 0 ? rangeKey(lr[0].resp) : null,
      lr,
      schedules: new Map(schedules.filter(Boolean).map((s) => [s.series, s])),
    });
  }

  /**
   * Fetches one run's epochs and deviations: whole runs, not windows, so they
   * are kept across zooms until a refresh finds the run grown. Epoch marks are
   * few and change-sampled: every one is fetched.
   */
  async loadMarks(info, signal) {
    const run = info.name;
    const kinds = classifySeries(info.series, info.optimizers || []);
    const [epoch, deviations] = await Promise.all([
      kinds.epoch ? api.fetchSeries(run, EPOCH, {}, signal) : null,
      info.schedule ? api.fetchDeviations(run, signal) : null,
    ]);
    this.marks.set(run, {epoch, deviations});
  }

  setTimeRef(run, resp) {
    this.timeRefs.set(run, {
      steps: resp.steps,
      wall_times: resp.wall_times,
      last: resp.step_range ? resp.step_range[1] : resp.steps[resp.steps.length - 1],
    });
  }

  // --------------------------------------------------------------- drawing

  /** The main chart's lines, legend and overlays from the cache. */
  mainLines() {
    const lines = [];
    const legend = [];
    // Epoch rules are neutral and drawn once where runs share a boundary.
    const rules = new Set();
    const markers = [];
    const spans = [];
    for (const info of this.selectedRuns()) {
      const data = this.cache.get(info.name);
      if (!data) continue;
      const run = info.name;
      const color = this.colors.get(run);
      const several = data.lr.length > 1 || data.schedules.size > 1;
      const names = new Set([...data.lr.map((s) => s.name), ...data.schedules.keys()]);
      let k = 0;
      for (const name of names) {
        const shade = lineColor(color, k++);
        const optimizer = optimizerOf(name, LEARNING_RATE);
        const label = several && optimizer ? `${run} · ${optimizer}` : run;
        const applied = data.lr.find((s) => s.name === name)?.resp;
        const schedule = data.schedules.get(name);
        if (applied) {
          lines.push({label, color: shade, x: this.toX(run, applied.steps, applied.wall_times), y: applied.values, run, series: name, resp: applied});
        }
        if (schedule) {
          lines.push({label: `${label} (schedule)`, color: shade, dashed: true, x: this.toX(run, schedule.steps, null), y: schedule.values, run, series: schedule.series, resp: schedule, schedule: true});
        }
        legend.push({color: shade, label});
      }
      const marks = this.marks.get(run);
      if (marks?.epoch) {
        const boundaries = epochBoundaries(marks.epoch.steps, marks.epoch.values);
        for (const x of this.toX(run, boundaries, null)) if (x != null) rules.add(x);
      }
      for (const event of marks?.deviations?.events || []) {
        const [x0, x1] = this.toX(run, [event.step, event.end_step ?? event.step], null);
        if (x0 == null) continue;
        markers.push({x: x0, y: event.applied, color});
        spans.push({x0, x1: x1 ?? x0, color});
      }
    }
    return {lines, legend, overlays: {rules: [...rules].map((x) => ({x})), markers, spans}};
  }

  async redrawMain() {
    const {lines, legend, overlays} = this.mainLines();
    this.mainLineData = lines;
    views.renderLegend(this.mainLegend, [
      ...legend,
      {color: 'currentColor', label: 'applied'},
      {color: 'currentColor', label: 'schedule', dashed: true},
    ]);
    if (lines.length === 0 && this.runs.length > 0) {
      this.mainStatus.textContent ||= this.selected.size === 0 ?
        'No run selected: pick runs on the left.' : 'The selected runs have no learning rate or schedule.';
    }
    await this.mainChart.setLines(lines.map(({label, color, dashed, x, y}) => ({label, color, dashed, x, y})), overlays);
  }

  /** The server's problems: the run list's, and those of the selected runs' curves. */
  renderProblems() {
    const problems = [...this.listingProblems];
    for (const info of this.selectedRuns()) {
      const data = this.cache.get(info.name);
      if (!data) continue;
      const answers = [...data.lr.map((s) => s.resp), ...data.schedules.values()];
      for (const answer of answers) {
        const what = answer.name ?? `schedule of ${answer.series}`;
        for (const problem of answer.problems || []) {
          problems.push({...problem, where: `run ${info.name}, ${what}`});
        }
      }
    }
    const key = JSON.stringify(problems);
    if (key === this.lastProblemsKey) return;
    this.lastProblemsKey = key;
    views.renderProblems(this.parts.problems, problems);
  }

  renderSidePanels() {
    this.renderProblems();
    const runs = this.selectedRuns();
    const events = new Map();
    const truncated = [];
    let compared = 0;
    for (const info of runs) {
      const deviations = this.marks.get(info.name)?.deviations;
      if (!deviations) continue;
      if ((deviations.compared || []).length > 0 || deviations.events.length > 0) compared++;
      events.set(info.name, deviations.events);
      if (deviations.truncated) truncated.push(info.name);
    }
    const rows = deviationRows(events);
    const devKey = JSON.stringify([rows, compared, truncated, runs.map((r) => this.colors.get(r.name))]);
    if (devKey !== this.lastDeviationsKey) {
      this.lastDeviationsKey = devKey;
      views.renderDeviations(this.deviationsNode, rows, {
        colors: this.colors, compared, truncated, onSelect: (row) => this.zoomToEvent(row),
      });
    }
    const panels = runs.map((info) => {
      const data = this.cache.get(info.name);
      const schedules = data ? [...data.schedules.values()] : [];
      return {
        run: info.name,
        color: this.colors.get(info.name),
        schedules: schedules.map((s) => ({
          optimizer: s.optimizer, kind: s.kind, source: s.source, total_steps: s.total_steps, config: s.config,
        })),
        exports: (data?.lr || []).flatMap((s) => [
          {label: `${s.name}.csv`, href: api.exportUrl(info.name, s.name, 'csv')},
          {label: `${s.name}.json`, href: api.exportUrl(info.name, s.name, 'json')},
        ]),
      };
    });
    const scheduleKey = JSON.stringify(panels);
    if (scheduleKey !== this.lastSchedulesKey) {
      this.lastSchedulesKey = scheduleKey;
      views.renderSchedules(this.parts.schedules, panels);
    }
  }

  zoomToEvent(row) {
    const length = Math.max(row.endStep - row.step, 1);
    const pad = Math.max(10, Math.round(length * 0.25));
    const [x0, x1] = this.toX(row.run, [Math.max(0, row.step - pad), row.endStep + pad], null);
    if (x0 != null && x1 != null) this.guard(this.zoom(x0, x1));
  }

  /** Tooltip rows of the main chart: every selected run at the hovered x. */
  mainTooltip(x) {
    const rows = [];
    for (const info of this.selectedRuns()) {
      const data = this.cache.get(info.name);
      if (!data) continue;
      const run = info.name;
      const color = this.colors.get(run);
      const step = this.stepAt(run, x);
      const names = new Set([...data.lr.map((s) => s.name), ...data.schedules.keys()]);
      let k = 0;
      for (const name of names) {
        const shade = lineColor(color, k++);
        const optimizer = optimizerOf(name, LEARNING_RATE);
        const label = names.size > 1 && optimizer ? `${run} · ${optimizer}` : run;
        const applied = data.lr.find((s) => s.name === name)?.resp;
        const schedule = data.schedules.get(name);
        let shownStep = step;
        let appliedValue = null;
        if (applied && step != null && applied.steps.length &&
            step >= applied.steps[0] && step <= applied.steps[applied.steps.length - 1]) {
          const found = valueAt(applied.steps, applied.values, step, 'step');
          shownStep = found.step;
          appliedValue = found.value;
        }
        // Outside the trained steps only the schedule (planned further) may have a value.
        let expected = null;
        let approximate = false;
        if (schedule && shownStep != null) {
          const exact = valueAt(schedule.steps, schedule.values, shownStep, 'step');
          if (exact?.exact) {
            expected = exact.value;
          } else {
            expected = interpolateAt(schedule.steps, schedule.values, shownStep);
            approximate = expected != null;
          }
        }
        // A run with nothing at this step (it is shorter) is left out, not listed empty.
        if (appliedValue == null && expected == null) continue;
        const epochs = this.marks.get(run)?.epoch;
        const epoch = epochs && appliedValue != null ?
          valueAt(epochs.steps, epochs.values, shownStep, 'change')?.value : null;
        rows.push({
          color: shade,
          cells: [
            label,
            formatStep(shownStep),
            epoch == null ? '—' : String(epoch),
            formatValue(appliedValue),
            (approximate ? '≈' : '') + formatValue(expected),
            formatRatio(appliedValue, expected),
          ],
        });
      }
    }
    if (rows.length === 0) return null;
    const title = this.xMode === 'time' ? `${formatDuration(x)} after start` : `Step ${formatStep(Math.round(x))}`;
    return {title, header: ['Run', 'Step', 'Epoch', 'Applied', 'Expected', 'Ratio'], rows};
  }

  // ------------------------------------------------------------- downloads

  /** The points the main chart shows, as CSV or JSON. */
  downloadMain(format) {
    const lines = (this.mainLineData || []).map((l) => ({
      run: l.run,
      series: l.schedule ? scheduleNameFor(l.series) : l.series,
      sampling: l.resp.sampling || 'step',
      downsampled: Boolean(l.resp.downsampled),
      steps: l.resp.steps,
      values: l.resp.values,
      wall_times: l.resp.wall_times || null,
    }));
    this.offer(lines, format, LEARNING_RATE);
  }

  /**
   * Offers lines as a CSV or JSON file.
   * @param {{run: string, series: string, steps: number[], values: (number|null)[], wall_times?: (number|null)[]|null}[]} lines
   * @param {'csv'|'json'} format
   * @param {string} what
   */
  offer(lines, format, what) {
    const name = fileName(['lr', what, this.window ? 'window' : 'all'], format);
    if (format === 'csv') {
      const {header, rows} = linesToRows(lines);
      views.download(new Blob([toCsv(header, rows)], {type: 'text/csv'}), name);
    } else {
      const body = {x_axis: this.xMode, window: this.window, lines};
      views.download(new Blob([JSON.stringify(body)], {type: 'application/json'}), name);
    }
  }

  async downloadMainPng() {
    const items = [];
    for (const line of this.mainLineData || []) if (!line.schedule) items.push({color: line.color, label: line.label});
    items.push({color: '#888888', label: 'schedule (dashed)', dashed: true});
    const blob = await this.mainChart.toPng('Learning rate', items);
    views.download(blob, fileName(['lr', LEARNING_RATE], 'png'));
  }
}
