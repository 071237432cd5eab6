// The "Range test" section: for one run holding a learning-rate range test
// (`tb_lr_plugin.find_learning_rate`), the loss against the learning rate on
// a log axis with each rule's suggestion and the divergence marked, the
// table of suggestions, the line of Python that configures the chosen rate,
// and that rate as a guide on the main chart beside training runs. Loaded
// only when a selected run has a range test.

import * as api from './api.js';
import {LineChart, themeColors} from './chart.js';
import {lineColor} from './colors.js';
import {formatValue} from './format.js';
import {
  DIVERGENCE, formatRate, lossCeiling, pythonLine, stopNote, suggestedRule, suggestionMarks,
  suggestionRows,
} from './range_test_reading.js';
import {nearestIndex} from './series_math.js';
import {classifySeries} from './series_names.js';
import * as views from './views.js';

export class RangeTestSection {
  /**
   * @param {HTMLElement} node the section to fill
   * @param {{
   *   colors: () => Map<string, string>,
   *   report: (task: Promise<unknown>) => void,
   *   onGuide: () => void,
   * }} host `colors`: the runs' colours; `onGuide`: what `guides()` returns changed
   */
  constructor(node, host) {
    this.node = node;
    this.host = host;
    /** @type {{name: string, series: string[], range_test?: boolean}[]} */
    this.runs = [];
    this.run = null;
    /** The `range_test` answer shown, once fetched. */
    this.test = null;
    /** The rule whose rate the Python line and the guide use. */
    this.choice = null;
    /** Whether the chosen rate is laid over the main chart (the checkbox). */
    this.overlay = false;
    /** Whether the selection shows training runs (a main chart to lay it over). */
    this.training = false;
    this.reportedGuides = '[]';
    this.generations = new Map();
    this.key = '';
    this.controller = null;
    this.chart = null;
  }

  /**
   * Shows the section for the selected runs that have a range test.
   * @param {{name: string, series: string[], range_test?: boolean}[]} runs the selected runs
   * @param {Set<string>} [changed] runs a refresh found grown
   */
  update(runs, changed = new Set()) {
    for (const run of changed) this.generations.set(run, (this.generations.get(run) || 0) + 1);
    const tested = runs.filter((r) => r.range_test);
    const names = tested.map((r) => r.name);
    const same = names.join('\n') === this.runs.map((r) => r.name).join('\n');
    this.runs = tested;
    this.training = runs.some((r) => classifySeries(r.series).learningRates.length > 0);
    if (tested.length === 0) {
      this.teardown();
      this.node.hidden = true;
    } else {
      this.node.hidden = false;
      if (!this.run || !names.includes(this.run)) this.run = names[0];
      if (!same || !this.chart) this.build();
      this.overlayControl.hidden = !this.training;
      this.host.report(this.load());
    }
    this.reportGuides();
  }

  teardown() {
    this.controller?.abort();
    this.chart?.destroy();
    this.chart = this.test = this.shown = null;
    this.key = '';
    this.node.replaceChildren();
  }

  build() {
    this.teardown();
    const run = this.runs.length > 1 ?
      views.runPicker(this.runs.map((r) => r.name), this.run, (name) => {
        this.run = name;
        this.choice = null;
        this.host.report(this.load());
      }) :
      views.el('div', {className: 'lr-run-picker'}, [
        views.el('span', {text: 'Run '}), views.el('span', {className: 'lr-run-name', text: this.run}),
      ]);
    this.chartParts = views.chartCard('Loss against learning rate', [], {
      className: 'lr-range-chart',
      subtitle: 'each step\'s loss (light) and smoothed (solid) · log rate axis · drag to zoom',
    });
    this.chart = new LineChart(this.chartParts.plot, {
      title: 'Loss against learning rate',
      height: 320,
      logX: true,
      formatX: formatRate,
      yCeiling: () => this.ceiling,
      onZoom: (min, max) => this.chart.setWindow({min, max}),
      onReset: () => this.chart.setWindow(null),
      tooltip: (x) => this.tooltip(x),
    });
    this.table = views.el('div', {className: 'lr-table-scroll'});
    this.code = views.el('code');
    this.copyStatus = views.el('span', {className: 'lr-muted lr-copy-status', attrs: {role: 'status'}});
    this.python = views.el('div', {className: 'lr-python'}, [
      views.el('pre', {className: 'lr-code'}, [this.code]),
      views.button('Copy', () => this.host.report(this.copy()), {
        className: 'lr-button lr-copy', title: 'Copy the line to the clipboard',
      }),
      this.copyStatus,
    ]);
    this.pythonNote = views.el('p', {className: 'lr-muted'});
    const box = /** @type {HTMLInputElement} */ (views.el('input', {attrs: {type: 'checkbox'}}));
    box.checked = this.overlay;
    box.addEventListener('change', () => {
      this.overlay = box.checked;
      this.reportGuides();
    });
    this.overlayControl = views.el('label', {
      className: 'lr-check lr-range-overlay',
      title: 'A horizontal line at the chosen rate on the learning-rate chart above',
    }, [box, document.createTextNode('Show the chosen rate on the learning-rate chart')]);
    this.suggestions = views.el('div', {className: 'lr-card lr-range-suggestions'}, [
      views.el('h3', {className: 'lr-card-title', text: 'Suggested rates'}),
      this.table,
      views.el('p', {className: 'lr-muted', text: 'To train at the chosen rate:'}),
      this.python,
      this.pythonNote,
      this.overlayControl,
    ]);
    this.node.replaceChildren(
        views.el('h2', {className: 'lr-heading', text: 'Range test'}),
        views.el('p', {
          className: 'lr-muted lr-section-note',
          text: 'The loss of a short training whose learning rate grows at every step (tb_lr_plugin.find_learning_rate). ' +
            'It falls while the rate is too low to matter, then faster, then blows up: each rule reads a rate off ' +
            'the smoothed loss.',
        }),
        run,
        views.el('div', {className: 'lr-grid lr-range-grid'}, [this.chartParts.card, this.suggestions]));
  }

  /** Fetches the current run's range test, unless it is the one shown. */
  async load() {
    const run = this.run;
    const key = JSON.stringify([run, this.generations.get(run) || 0]);
    if (!run || !this.chart || key === this.key) return;
    this.key = key;
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    const {status} = this.chartParts;
    if (this.test?.run !== run) status.textContent = 'Loading…';
    let test;
    try {
      test = await api.fetchRangeTest(run, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return;
      status.textContent = `Could not load: ${error.message}`;
      status.classList.add('lr-error');
      this.key = '';
      return;
    }
    if (controller.signal.aborted) return;
    status.textContent = test.learning_rates.length ? '' : 'Nothing readable in this run\'s range test.';
    status.classList.remove('lr-error');
    // Refreshes ask again (every one, for a run holding only a range test:
    // it has no series to probe); the same answer leaves the section, and
    // the reader's focus, alone.
    const shown = JSON.stringify([run, test]);
    if (shown === this.shown) return;
    this.shown = shown;
    this.test = test;
    // Nothing readable (every record damaged): the chart's card says why.
    this.suggestions.hidden = test.learning_rates.length === 0;
    const rows = suggestionRows(test);
    if (!rows.some((row) => row.choosable && row.rule === this.choice)) this.choice = suggestedRule(test.suggestions);
    this.draw();
    this.renderTable(rows);
    this.renderPython();
    this.reportGuides();
  }

  draw() {
    const test = this.test;
    const rates = test.learning_rates;
    const theme = themeColors();
    const color = this.host.colors().get(this.run) || theme.fg;
    const light = lineColor(color, 2);
    this.ceiling = lossCeiling(test);
    const {legend, problems} = this.chartParts;
    views.renderProblems(problems, (test.problems || []).map((p) => ({...p, where: `run ${this.run}`})));
    views.renderLegend(legend, [
      {color: light, label: 'loss at each step'},
      {color, label: 'smoothed loss'},
      ...(test.divergence == null ? [] : [{color: theme.error, label: DIVERGENCE, dashed: true}]),
      {color: theme.fg, label: 'suggestions'},
    ], rates.length ? stopNote(test) : null);
    // Neutral marks: the run's own colour may be any of the palette's.
    const markers = suggestionMarks(test, this.ceiling).map((mark) => ({...mark, color: theme.fg}));
    const guides = test.divergence == null ? [] : [{
      x: test.divergence, color: theme.error, dashed: true, label: `${DIVERGENCE} ${formatRate(test.divergence)}`,
    }];
    this.chart.setLines([
      {label: 'loss', color: light, width: 1, x: rates, y: test.losses},
      {label: 'smoothed loss', color, x: rates, y: test.smoothed_losses},
    ], {markers, guides});
  }

  /** The suggestions, one row per rule and the divergence; a radio button picks the rate to use. */
  renderTable(rows) {
    const table = views.el('table', {className: 'lr-table lr-suggestion-table'});
    const head = table.createTHead().insertRow();
    for (const text of ['', 'Rule', 'Rate', 'What it finds']) head.appendChild(views.el('th', {text, attrs: {scope: 'col'}}));
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      tr.dataset.rule = row.rule;
      const pick = tr.insertCell();
      if (row.choosable) {
        const radio = /** @type {HTMLInputElement} */ (views.el('input', {
          attrs: {type: 'radio', name: 'lr-range-choice', 'aria-label': `Use the ${row.rule} rate`},
        }));
        radio.checked = row.rule === this.choice;
        radio.addEventListener('change', () => this.choose(row.rule));
        pick.appendChild(radio);
      }
      tr.appendChild(views.el('th', {text: row.rule, attrs: {scope: 'row'}}));
      tr.appendChild(views.el('td', {className: 'lr-rate', text: formatRate(row.rate), title: formatValue(row.rate)}));
      tr.appendChild(views.el('td', {}, [
        views.el('div', {text: row.explanation}),
        row.rate == null && row.reason ? views.el('div', {className: 'lr-muted lr-reason', text: `no rate: ${row.reason}`}) : null,
      ]));
    }
    this.table.replaceChildren(table);
  }

  choose(rule) {
    this.choice = rule;
    this.renderPython();
    this.reportGuides();
  }

  /** The line of Python for the chosen rate, or why there is none. */
  renderPython() {
    const chosen = this.chosen();
    this.python.hidden = !chosen;
    this.code.textContent = chosen ? pythonLine(this.test.optimizer, chosen.learning_rate) : '';
    this.copyStatus.textContent = '';
    this.pythonNote.textContent = chosen ? '' : 'No rule found a rate: see why in the table.';
  }

  /** @returns {{rule: string, learning_rate: number} | null} the chosen suggestion */
  chosen() {
    const found = this.test?.suggestions.find((s) => s.rule === this.choice);
    return found?.learning_rate != null ? found : null;
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.code.textContent);
      this.copyStatus.textContent = 'Copied.';
    } catch {
      // No clipboard here (TensorBoard's iframe may not be allowed it): select the line for the keyboard.
      getSelection().selectAllChildren(this.code);
      this.copyStatus.textContent = 'Selected: press Ctrl+C to copy.';
    }
  }

  /**
   * The chosen rate as a horizontal guide for the main chart, when the
   * checkbox asks for it and the selection shows training runs.
   * @returns {{y: number, color: string, label: string, dashed: boolean}[]}
   */
  guides() {
    const chosen = this.chosen();
    if (!this.overlay || !this.training || !chosen) return [];
    const label = `${chosen.rule} ${formatRate(chosen.learning_rate)} (range test)`;
    return [{y: chosen.learning_rate, color: themeColors().accent, label, dashed: true}];
  }

  /** Tells the app when the main chart's guide changed. */
  reportGuides() {
    const guides = JSON.stringify(this.guides());
    if (guides === this.reportedGuides) return;
    this.reportedGuides = guides;
    this.host.onGuide();
  }

  restyle() {
    if (!this.test) return;
    this.chart.restyle();
    this.draw();
    this.reportGuides();
  }

  tooltip(x) {
    const rates = this.test?.learning_rates;
    if (!rates?.length) return null;
    const step = nearestIndex(rates, x);
    return {
      title: `learning rate ${formatValue(rates[step])}`,
      header: ['Step', 'Loss', 'Smoothed'],
      rows: [{
        color: this.host.colors().get(this.run) || '',
        cells: [String(step), formatValue(this.test.losses[step]), formatValue(this.test.smoothed_losses[step])],
      }],
    };
  }
}
