// The panels around the main chart: the server's problems, the deviations
// table and each run's schedule. Each is rebuilt only when what it shows
// changed, so a refresh that brought nothing new leaves the DOM (and the
// reader's scroll position and focus) alone.

import * as api from './api.js';
import {EXPORT_FORMATS} from './constants.js';
import {deviationRows} from './deviation_rows.js';
import * as views from './views.js';

export class SidePanels {
  /**
   * @param {{problems: HTMLElement, deviations: HTMLElement, schedules: HTMLElement}} nodes
   * @param {(row: ReturnType<typeof deviationRows>[number]) => void} onSelectDeviation
   */
  constructor(nodes, onSelectDeviation) {
    this.nodes = nodes;
    this.onSelectDeviation = onSelectDeviation;
    this.shown = {problems: '', deviations: '', schedules: ''};
  }

  /** Builds `node` with `build` unless `value` is what it shows already. */
  renderIfChanged(part, value, build) {
    const key = JSON.stringify(value);
    if (key === this.shown[part]) return;
    this.shown[part] = key;
    build();
  }

  /**
   * The problems the run list reported (series problems show by their charts).
   * @param {{message: string}[]} problems
   */
  renderProblems(problems) {
    this.renderIfChanged('problems', problems, () => views.renderProblems(this.nodes.problems, problems));
  }

  /**
   * The deviations of the selected runs and their schedules.
   * @param {{info: {name: string, series: string[], schedule: boolean, range_test?: boolean},
   *   curves: any, marks: any, color: string}[]} runs
   * @param {Map<string, string>} colors every run's colour
   */
  render(runs, colors) {
    const events = new Map();
    const truncated = [];
    let compared = 0;
    for (const {info, marks} of runs) {
      const deviations = marks?.deviations;
      if (!deviations) continue;
      if ((deviations.compared || []).length > 0 || deviations.events.length > 0) compared++;
      events.set(info.name, deviations.events);
      if (deviations.truncated) truncated.push(info.name);
    }
    const rows = deviationRows(events);
    this.renderIfChanged('deviations', [rows, compared, truncated, runs.map((r) => r.color)], () =>
      views.renderDeviations(this.nodes.deviations, rows, {
        colors, compared, truncated, onSelect: this.onSelectDeviation,
      }));
    // A run holding only a range test has no schedule to show: its own section says what it holds.
    const scheduled = runs.filter(({info}) => !(info.range_test && !info.schedule && info.series.length === 0));
    const panels = scheduled.map(({info, curves, color}) => ({
      run: info.name,
      color,
      schedules: [...(curves?.schedules.values() || [])].map((s) => ({
        optimizer: s.optimizer, kind: s.kind, source: s.source, total_steps: s.total_steps, config: s.config,
      })),
      exports: (curves?.lr || []).flatMap((s) => EXPORT_FORMATS.map((format) => (
        {label: `${s.name}.${format}`, href: api.exportUrl(info.name, s.name, format)}))),
    }));
    this.renderIfChanged('schedules', panels, () => views.renderSchedules(this.nodes.schedules, panels));
  }
}
