// The main chart's lines, built once for the lines, the legend, the tooltip
// and the downloads alike: per run and optimizer, the applied rate (solid)
// and the configured schedule (dashed), labelled and shaded the same way.

import {lineColor} from './colors.js';
import {LEARNING_RATE, SAMPLED_EVERY_STEP, SAMPLED_ON_CHANGE} from './constants.js';
import {formatRatio, formatStep, formatValue} from './format.js';
import {epochBoundaries, interpolateAt, valueAt} from './series_math.js';
import {optimizerOf} from './series_names.js';

/**
 * @typedef {object} Entry one optimizer's learning rate in one run
 * @property {string} run
 * @property {string} series the learning-rate series name
 * @property {string} label `run`, or `run · optimizer` when the run has several
 * @property {string} shade the run's colour, fainter for each further optimizer
 * @property {any} applied the `series` answer, if the run logged it
 * @property {any} schedule the `schedule` answer, if it has one
 */

/**
 * The entries of one run, in a stable order.
 * @param {string} run
 * @param {import('./data_loading.js').RunCurves} curves
 * @param {string} color the run's colour
 * @returns {Entry[]}
 */
export function runEntries(run, curves, color) {
  const names = [...new Set([...curves.lr.map((s) => s.name), ...curves.schedules.keys()])];
  return names.map((series, k) => {
    const optimizer = optimizerOf(series, LEARNING_RATE);
    return {
      run,
      series,
      label: names.length > 1 && optimizer ? `${run} · ${optimizer}` : run,
      shade: lineColor(color, k),
      applied: curves.lr.find((s) => s.name === series)?.resp,
      schedule: curves.schedules.get(series),
    };
  });
}

/**
 * Whether a run only previews a schedule (`write_schedule`): it logged no
 * applied rate, so its planned steps must not stretch the step axis of the
 * training runs beside it.
 * @param {{series: string[]}} info
 */
export function isPreview(info) {
  return !info.series.some((name) => optimizerOf(name, LEARNING_RATE) !== null);
}

/**
 * What the main chart draws for the selected runs.
 * @param {{info: {name: string, series: string[]}, curves: any, marks: any, color: string}[]} runs
 * @param {import('./x_axis.js').XAxis} axis
 * @returns {{lines: object[], legend: {color: string, label: string}[], overlays: object}}
 */
export function mainLines(runs, axis) {
  const lines = [];
  const legend = [];
  // Epoch rules are neutral and drawn once where runs share a boundary.
  const rules = new Set();
  const markers = [];
  const spans = [];
  const onlyPreviews = runs.every((r) => isPreview(r.info));
  for (const {info, curves, marks, color} of runs) {
    const run = info.name;
    const setsRange = onlyPreviews || !isPreview(info);
    for (const entry of curves ? runEntries(run, curves, color) : []) {
      const {label, shade, applied, schedule} = entry;
      if (applied) {
        lines.push({
          label, color: shade, setsRange, entry, resp: applied,
          x: axis.toX(run, applied.steps, applied.wall_times), y: applied.values,
        });
      }
      if (schedule) {
        // Without a plan the writer samples the curve ahead of training: the
        // steps trained, not those, end the axis.
        const planned = schedule.total_steps != null || !applied;
        lines.push({
          label: `${label} (schedule)`, color: shade, dashed: true, setsRange: setsRange && planned, entry,
          resp: schedule,
          x: axis.toX(run, schedule.steps, null), y: schedule.values,
        });
      }
      legend.push({color: shade, label});
    }
    if (marks?.epoch) {
      const boundaries = epochBoundaries(marks.epoch.steps, marks.epoch.values);
      for (const x of axis.toX(run, boundaries, null)) if (x != null) rules.add(x);
    }
    for (const event of marks?.deviations?.events || []) {
      const [x0, x1] = axis.toX(run, [event.step, event.end_step ?? event.step], null);
      if (x0 == null) continue;
      markers.push({x: x0, y: event.applied, color});
      spans.push({x0, x1: x1 ?? x0, color});
    }
  }
  return {lines, legend, overlays: {rules: [...rules].map((x) => ({x})), markers, spans}};
}

/**
 * The main chart's tooltip at x: every selected run's applied and expected
 * rate at the step it has there.
 * @param {number} x
 * @param {{info: {name: string}, curves: any, marks: any, color: string}[]} runs
 * @param {import('./x_axis.js').XAxis} axis
 */
export function mainTooltip(x, runs, axis) {
  const rows = [];
  for (const {info, curves, marks, color} of runs) {
    if (!curves) continue;
    const run = info.name;
    const step = axis.stepAt(run, x);
    for (const {label, shade, applied, schedule} of runEntries(run, curves, color)) {
      let shownStep = step;
      let appliedValue = null;
      if (applied && step != null && applied.steps.length &&
          step >= applied.steps[0] && step <= applied.steps[applied.steps.length - 1]) {
        const found = valueAt(applied.steps, applied.values, step, SAMPLED_EVERY_STEP);
        shownStep = found.step;
        appliedValue = found.value;
      }
      // Outside the trained steps only the schedule (planned further) may have a value.
      let expected = null;
      let approximate = false;
      if (schedule && shownStep != null) {
        const exact = valueAt(schedule.steps, schedule.values, shownStep, SAMPLED_EVERY_STEP);
        if (exact?.exact) {
          expected = exact.value;
        } else {
          expected = interpolateAt(schedule.steps, schedule.values, shownStep);
          approximate = expected != null;
        }
      }
      // A run with nothing at this step (it is shorter) is left out, not listed empty.
      if (appliedValue == null && expected == null) continue;
      const epochs = marks?.epoch;
      const epoch = epochs && appliedValue != null ?
        valueAt(epochs.steps, epochs.values, shownStep, SAMPLED_ON_CHANGE)?.value : null;
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
  return {title: axis.title(x), header: ['Run', 'Step', 'Epoch', 'Applied', 'Expected', 'Ratio'], rows};
}

/**
 * The problems the server reported for what the main chart draws, each with
 * the run and series it belongs to.
 * @param {{info: {name: string}, curves: any}[]} runs
 * @returns {{message: string, step_range?: number[]|null, where: string}[]}
 */
export function mainProblems(runs) {
  const problems = [];
  for (const {info, curves} of runs) {
    if (!curves) continue;
    const answers = [...curves.lr.map((s) => s.resp), ...curves.schedules.values()];
    for (const answer of answers) {
      const what = answer.name ?? `schedule of ${answer.series}`;
      for (const problem of answer.problems || []) problems.push({...problem, where: `run ${info.name}, ${what}`});
    }
  }
  return problems;
}
