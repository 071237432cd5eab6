// The LR tab's controller: which runs are selected, which x window is shown,
// what to fetch for it, and when to redraw. What it asks for and draws lives
// in modules of one idea each: `data_loading.js` fetches, `x_axis.js` maps
// steps to x, `main_lines.js` builds the main chart's lines, `side_panels.js`,
// `range_test.js`, `update_ratios.js` and `small_charts.js` the rest of the
// page, `views.js` the DOM.

import * as api from './api.js';
import {LineChart} from './chart.js';
import {runColors} from './colors.js';
import {LEARNING_RATE} from './constants.js';
import {RunData, maxPointsFor} from './data_loading.js';
import {exportLine, fileName, offerLines} from './downloads.js';
import {mainLines, mainProblems, mainTooltip} from './main_lines.js';
import {REFRESH_INTERVAL_MS, loadPreferences, savePreferences} from './preferences.js';
import {compileFilter, nextSelection} from './run_selection.js';
import {chartGroups, measuredSeries} from './series_names.js';
import {SidePanels} from './side_panels.js';
import {SmallCharts} from './small_charts.js';
import * as views from './views.js';
import {FRACTION_AXIS, STEP_AXIS, TIME_AXIS, XAxis} from './x_axis.js';

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

/** The x axis buttons, in toolbar order. */
const AXIS_BUTTONS = [
  [STEP_AXIS, 'Step', 'optimizer step'],
  [TIME_AXIS, 'Relative time', 'time since each run\'s first step'],
  [FRACTION_AXIS, 'Fraction of run', 'step / the run\'s planned steps: runs of different lengths side by side'],
];

/** Resolves after the browser has painted the current frame. */
function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function isAbort(error) {
  return error?.name === 'AbortError';
}

/** The main chart's height: one screen with the toolbar and the card's header. */
function mainChartHeight() {
  return Math.round(Math.min(Math.max(innerHeight - 240, 280), 720));
}

export class App {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    this.parts = views.layout(root);
    this.prefs = loadPreferences();
    /** @type {{name: string, series: string[], schedule: boolean, optimizers?: string[]}[]} */
    this.runs = [];
    this.colors = new Map();
    this.known = new Set();
    this.selected = new Set();
    this.deselected = new Set(this.prefs.deselected);
    this.filter = compileFilter(this.prefs.filter);
    this.axis = new XAxis(this.prefs.xMode);
    this.data = new RunData(this.axis);
    this.loads = 0;
    this.controller = null;
    this.firstRenderDone = false;
    this.listingProblems = [];
    this.refreshMs = this.prefs.refreshSeconds ? this.prefs.refreshSeconds * 1000 : REFRESH_INTERVAL_MS;

    this.buildToolbar();
    this.buildMainCard(this.prefs.mainLog);
    this.panels = new SidePanels(
        {problems: this.parts.problems, deviations: this.deviationsNode, schedules: this.parts.schedules},
        (row) => this.zoomToEvent(row));
    this.small = new SmallCharts(this.parts.hyperparameters, this.parts.layers, {
      axis: this.axis,
      maxPoints: () => this.maxPoints(),
      onZoom: (min, max) => this.guard(this.zoom(min, max)),
      onReset: () => this.guard(this.resetZoom()),
      report: (task) => this.guard(task),
      wholeSeries: (run, series) => this.data.hyperparameters.get(run)?.get(series),
    });
    /** The update-ratio section, once a selected run has update ratios (its modules load then). */
    this.ratios = null;
    /** The range-test section, once a selected run has a range test (likewise). */
    this.rangeTest = null;
    /** field -> the import of a section's modules, while it loads */
    this.sectionsLoading = {};
    this.watchColorScheme();
    addEventListener('resize', () => this.mainChart.resize());
    this.timer = setInterval(() => {
      if (this.prefs.autoRefresh && !document.hidden) this.guard(this.refresh());
    }, this.refreshMs);
  }

  // ---------------------------------------------------------------- building

  buildToolbar() {
    this.axisButtons = new Map(AXIS_BUTTONS.map(([mode, label, title]) => [mode, views.button(label, () => this.setXMode(mode), {
      className: 'lr-button lr-segment', pressed: this.axis.mode === mode, title: `x axis: ${title}`,
    })]));
    this.resetButton = views.button('Reset zoom', () => this.guard(this.resetZoom()), {title: 'Show every step (or double-click a chart)'});
    this.resetButton.disabled = true;
    const refresh = views.button('Refresh', () => this.guard(this.refresh({everything: true})), {title: 'Fetch everything again now'});
    const auto = /** @type {HTMLInputElement} */ (views.el('input', {attrs: {type: 'checkbox'}}));
    auto.checked = this.prefs.autoRefresh;
    auto.addEventListener('change', () => {
      this.prefs.autoRefresh = auto.checked;
      this.savePrefs();
    });
    this.statusNode = views.el('span', {className: 'lr-status-text', attrs: {role: 'status', 'aria-live': 'polite'}});
    this.parts.toolbar.replaceChildren(
        views.el('span', {className: 'lr-toolbar-label', text: 'X axis'}),
        views.el('span', {className: 'lr-segmented'}, [...this.axisButtons.values()]),
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
    const {card, plot, legend, status, problems} = views.chartCard('Learning rate', actions, {
      className: 'lr-main-chart',
      subtitle: 'applied per step (solid) over the configured schedule (dashed)',
    });
    this.mainLegend = legend;
    this.mainStatus = status;
    this.mainProblemsNode = problems;
    this.deviationsNode = views.el('aside', {className: 'lr-card lr-deviations', attrs: {'aria-label': 'Deviations'}});
    this.parts.main.replaceChildren(views.el('div', {className: 'lr-main-row'}, [card, this.deviationsNode]));
    this.mainChart = new LineChart(plot, {
      title: 'Learning rate',
      height: mainChartHeight,
      log,
      linearFromZero: true,
      formatX: (x) => this.axis.formatX(x),
      onZoom: (min, max) => this.guard(this.zoom(min, max)),
      onReset: () => this.guard(this.resetZoom()),
      tooltip: (x) => mainTooltip(x, this.shownRuns(), this.axis),
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
      this.ratios?.restyle();
      this.rangeTest?.restyle();
    });
  }

  savePrefs() {
    this.prefs.xMode = this.axis.mode;
    this.prefs.mainLog = this.mainChart?.log || false;
    this.prefs.deselected = [...this.deselected];
    savePreferences(this.prefs);
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
        // loadAndDraw lists the runs once their data is asked for.
        const changed = initial ? new Set() :
          everything ? new Set(this.runs.map((r) => r.name)) : await this.data.changedRuns(this.selectedRuns());
        await this.loadAndDraw({force: changed});
      } else {
        this.renderRunList();
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
    this.data.forget(this.known);
    this.listingProblems = listing?.problems || [];
    this.panels.renderProblems(this.listingProblems);
    const empty = runs.length === 0;
    this.parts.empty.hidden = !empty;
    for (const key of ['main', 'schedules', 'hyperparameters', 'layers']) this.parts[key].hidden = empty;
    if (empty) {
      views.renderEmptyState(this.parts.empty);
      this.ratios?.update([]);
      this.rangeTest?.update([]);
    }
  }

  renderRunList() {
    const counts = new Map();
    for (const [run, marks] of this.data.marks) counts.set(run, marks.deviations?.events?.length || 0);
    views.renderRunList(this.parts.sidebar, {
      runs: this.runs,
      colors: this.colors,
      selected: this.selected,
      filter: this.prefs.filter,
      filterError: this.filter.error,
      visible: (name) => this.filter.test(name),
      deviations: counts,
    }, {
      onFilter: (text) => {
        this.prefs.filter = text;
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

  /** The selected runs with what is fetched of them and their colours. */
  shownRuns() {
    return this.selectedRuns().map((info) => ({
      info,
      curves: this.data.curves.get(info.name),
      marks: this.data.marks.get(info.name),
      color: this.colors.get(info.name),
    }));
  }

  // ------------------------------------------------------------------ x axis

  setXMode(mode) {
    if (mode === this.axis.mode) return;
    this.axis.mode = mode;
    for (const [m, button] of this.axisButtons) button.setAttribute('aria-pressed', String(m === mode));
    this.savePrefs();
    // A window in one unit means nothing in another: show everything.
    this.axis.window = null;
    this.resetButton.disabled = true;
    this.mainChart.window = null;
    this.small.setWindow(null, false);
    this.ratios?.setWindow(null, false);
    this.guard(this.loadAndDraw({}));
  }

  /** Points to ask for per line, from the main chart's width. */
  maxPoints() {
    return maxPointsFor(this.mainChart.width() || 800, devicePixelRatio, this.selected.size);
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
    this.axis.window = {min, max};
    this.resetButton.disabled = false;
    const drawn = this.mainChart.setWindow(this.axis.window);
    this.small.setWindow(this.axis.window, true);
    this.ratios?.setWindow(this.axis.window, true);
    await drawn;
    performance.measure(MARKS.zoomRedraw, MARKS.zoomStart);
    const done = await this.loadAndDraw({});
    if (done) {
      await afterPaint();
      performance.measure(MARKS.zoomRefetch, MARKS.zoomStart);
    }
  }

  async resetZoom() {
    if (!this.axis.window) return;
    this.axis.window = null;
    this.resetButton.disabled = true;
    this.mainChart.window = null;
    this.small.setWindow(null, false);
    this.ratios?.setWindow(null, false);
    await this.loadAndDraw({});
  }

  zoomToEvent(row) {
    const length = Math.max(row.endStep - row.step, 1);
    const pad = Math.max(10, Math.round(length * 0.25));
    const [x0, x1] = this.axis.toX(row.run, [Math.max(0, row.step - pad), row.endStep + pad], null);
    if (x0 != null && x1 != null) this.guard(this.zoom(x0, x1));
  }

  // --------------------------------------------------------------- loading

  /**
   * Fetches what the main chart needs for every selected run in the current
   * window (what is cached for this window is reused, except for the runs in
   * `force`), in one `batch` request, then draws the chart, the deviations
   * and the schedule panels. Curves (learning rates, schedules) are fetched
   * per window, marks (epochs, deviations) once per run until it grows.
   * @param {{force?: Set<string>}} options
   * @returns {Promise<boolean>} false when a newer load superseded this one
   */
  async loadAndDraw({force = new Set()}) {
    this.controller?.abort();
    const controller = new AbortController();
    const signal = controller.signal;
    this.controller = controller;
    const maxPoints = this.maxPoints();
    const key = this.axis.key(maxPoints);
    const runs = this.selectedRuns();
    const stale = runs.filter((r) => force.has(r.name) || this.data.curves.get(r.name)?.key !== key);
    const unmarked = runs.filter((r) => force.has(r.name) || !this.data.marks.has(r.name));
    if (stale.length > 0) this.mainStatus.textContent = 'Loading…';
    const fetchStart = performance.now();
    const pending = this.data.load(stale, unmarked, key, maxPoints, signal).then(
        (failed) => failed.map((f) => f.error), (error) => [error.message]);
    // The request is sent: list the runs meanwhile (not before: that would
    // make the layout that measures the chart's width slower).
    this.renderRunList();
    const failures = await pending;
    if (signal.aborted) return false;
    performance.measure(MARKS.fetch, {start: fetchStart});
    this.mainStatus.textContent = failures.length ?
      `Could not load ${failures.length} part${failures.length === 1 ? '' : 's'}: ${failures[0]}` : '';
    this.mainStatus.classList.toggle('lr-error', failures.length > 0);
    const drawStart = performance.now();
    await this.redrawMain();
    performance.measure(MARKS.draw, {start: drawStart});
    if (!performance.getEntriesByName(MARKS.mainChart).length && this.mainLineData.length > 0) {
      performance.mark(MARKS.mainChart);
    }
    const shown = this.shownRuns();
    this.panels.render(shown, this.colors);
    this.renderRunList();
    this.small.update(chartGroups(runs), {changed: force, colors: this.colors});
    this.guard(this.updateRatios(runs, force));
    this.guard(this.updateRangeTest(runs, force));
    await this.markRendered();
    return true;
  }

  /**
   * Shows the update-ratio section for the selected runs that have update
   * ratios; its code is fetched the first time one does.
   */
  async updateRatios(runs, changed) {
    const needed = runs.some((run) => measuredSeries(run).layers.length > 0);
    const ratios = await this.lazySection('ratios', needed, async () => {
      const {UpdateRatios} = await import('./update_ratios.js');
      return new UpdateRatios(this.parts.updateRatios, {
        axis: this.axis,
        maxPoints: () => this.maxPoints(),
        onZoom: (min, max) => this.guard(this.zoom(min, max)),
        onReset: () => this.guard(this.resetZoom()),
        report: (task) => this.guard(task),
      });
    });
    ratios?.update(runs, changed);
  }

  /**
   * Shows the range-test section for the selected runs that have a range
   * test; its code is fetched the first time one does.
   */
  async updateRangeTest(runs, changed) {
    const rangeTest = await this.lazySection('rangeTest', runs.some((run) => run.range_test), async () => {
      const {RangeTestSection} = await import('./range_test.js');
      return new RangeTestSection(this.parts.rangeTest, {
        colors: () => this.colors,
        report: (task) => this.guard(task),
        // The chosen rate's guide on the main chart changed.
        onGuide: () => this.guard(this.redrawMain()),
      });
    });
    rangeTest?.update(runs, changed);
  }

  /**
   * The section kept in `this[field]`, built by `create` the first time it
   * is `needed`; null until then.
   * @param {'ratios'|'rangeTest'} field
   * @param {boolean} needed
   * @param {() => Promise<object>} create
   */
  async lazySection(field, needed, create) {
    if (!this[field] && needed) {
      this.sectionsLoading[field] ??= create().then((section) => {
        this[field] = section;
      }).catch((error) => {
        delete this.sectionsLoading[field]; // The next load tries again.
        throw error;
      });
      await this.sectionsLoading[field];
    }
    return this[field];
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

  // --------------------------------------------------------------- drawing

  async redrawMain() {
    const shown = this.shownRuns();
    const {lines, legend, overlays} = mainLines(shown, this.axis);
    this.mainLineData = lines;
    views.renderLegend(this.mainLegend, [
      ...legend,
      {color: 'currentColor', label: 'applied'},
      {color: 'currentColor', label: 'schedule', dashed: true},
    ], this.axis.describe(shown.filter((r) => r.curves).map((r) => r.info.name)));
    views.renderProblems(this.mainProblemsNode, mainProblems(shown));
    if (lines.length === 0 && this.runs.length > 0) {
      this.mainStatus.textContent ||= this.selected.size === 0 ?
        'No run selected: pick runs on the left.' : 'The selected runs have no learning rate or schedule.';
    }
    await this.mainChart.setLines(lines.map(({label, color, dashed, x, y, setsRange}) => ({label, color, dashed, x, y, setsRange})),
        {...overlays, guides: this.rangeTest?.guides() ?? []});
  }

  // ------------------------------------------------------------- downloads

  /** The points the main chart shows, as CSV or JSON. */
  downloadMain(format) {
    const lines = (this.mainLineData || []).map((l) => exportLine(l.entry.run, l.entry.series, l.resp, {schedule: Boolean(l.dashed)}));
    offerLines(lines, format, LEARNING_RATE, this.axis);
  }

  async downloadMainPng() {
    const items = [];
    for (const line of this.mainLineData || []) if (!line.dashed) items.push({color: line.color, label: line.label});
    items.push({color: '#888888', label: 'schedule (dashed)', dashed: true});
    const blob = await this.mainChart.toPng('Learning rate', items);
    views.download(blob, fileName(['lr', LEARNING_RATE], 'png'));
  }
}
