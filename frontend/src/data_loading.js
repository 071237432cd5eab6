// Fetching what the main chart draws: how many points per line, each run's
// curves for the window and its marks, and which runs grew since.

import * as api from './api.js';
import {CURVES, HYPERPARAMETERS, LEARNING_RATE, MARKS, MIN_MAX_POINTS} from './constants.js';
import {classifySeries, optimizerOf} from './series_names.js';
import {TIME_AXIS} from './x_axis.js';

// More runs than this on one chart overlap so much that a point per device
// pixel shows all there is to see, at half the bytes.
const CROWDED_RUNS = 20;

/**
 * How many points to ask the server for, per line of a chart `width` CSS
 * pixels wide: two per device pixel is as much as a line can show, one when
 * more than `CROWDED_RUNS` runs share the chart.
 * @param {number} width
 * @param {number} [pixelRatio]
 * @param {number} [runs] how many runs the chart draws
 * @returns {number} within the API's limits
 */
export function maxPointsFor(width, pixelRatio = 1, runs = 1) {
  const perPixel = runs > CROWDED_RUNS ? 1 : 2;
  const wanted = Math.round(Math.max(width, 100) * Math.min(Math.max(pixelRatio, 1), 2) * perPixel);
  return Math.min(Math.max(wanted, 200), 10000);
}

/**
 * What tells whether a series grew between two fetches: its whole step range
 * (the same in a windowed and a full answer).
 * @param {{step_range?: [number, number]|null}} resp a `series` answer
 * @returns {string}
 */
export function rangeKey(resp) {
  return JSON.stringify(resp.step_range ?? null);
}

/**
 * @typedef {object} RunCurves what the main chart draws of one run, for one window
 * @property {string} key the window it was fetched for (`XAxis.key`)
 * @property {string|null} rangeKey what a refresh compares to tell whether the run grew
 * @property {{name: string, optimizer: string, resp: any}[]} lr its learning rates
 * @property {Map<string, any>} schedules its configured curves, by learning-rate series
 */

/**
 * The selected runs' data as fetched for the current window: curves per
 * window, marks (epochs, deviations) per run until it grows. It keeps the
 * x axis told what each answer says of its run (last step, time points, plan).
 */
export class RunData {
  /** @param {import('./x_axis.js').XAxis} axis */
  constructor(axis) {
    this.axis = axis;
    /** @type {Map<string, RunCurves>} */
    this.curves = new Map();
    /** @type {Map<string, {epoch: any, deviations: any}>} */
    this.marks = new Map();
    /** run -> hyperparameter name -> its whole series (fetched with the marks) */
    this.hyperparameters = new Map();
  }

  /** Forgets runs no longer listed. @param {Set<string>} known */
  forget(known) {
    for (const map of [this.curves, this.marks, this.hyperparameters]) {
      for (const run of map.keys()) if (!known.has(run)) map.delete(run);
    }
    this.axis.forget(known);
  }

  /**
   * Fetches, in one `batch` request (split only for a huge selection), the
   * curves of `curveRuns` for the current window, and the marks and
   * hyperparameters of `markRuns` (whole runs).
   * @param {{name: string, series: string[], optimizers?: string[]}[]} curveRuns
   * @param {{name: string}[]} markRuns
   * @param {string} key the window's key
   * @param {number} maxPoints
   * @param {AbortSignal} signal
   * @returns {Promise<{run: string, error: string}[]>} the runs the server could not answer
   */
  async load(curveRuns, markRuns, key, maxPoints, signal) {
    const axis = this.axis;
    if (axis.mode === TIME_AXIS && axis.window) {
      // Steps of a time window come from each run's step/time mapping: get those first.
      await this.loadTimeMappings(curveRuns.filter((info) => !axis.refs.has(info.name)), maxPoints, signal);
    }
    const marked = new Set(markRuns.map((info) => info.name));
    const runs = [...curveRuns, ...markRuns.filter((info) => !curveRuns.includes(info))];
    const include = [...(curveRuns.length ? [CURVES] : []), ...(marked.size ? [MARKS, HYPERPARAMETERS] : [])];
    if (runs.length === 0) return [];
    const answers = await api.fetchBatch(
        runs.map((info) => ({run: info.name, ...axis.stepWindowOf(info.name)})), {maxPoints, include}, signal);
    const failed = [];
    for (const answer of answers) {
      if (answer.error) {
        failed.push(answer);
        continue;
      }
      if (answer.learning_rates) this.takeCurves(answer, key, axis.stepWindowOf(answer.run).start === undefined);
      if (answer.deviations !== undefined && marked.has(answer.run)) {
        this.marks.set(answer.run, {epoch: answer.epoch, deviations: answer.deviations});
        this.hyperparameters.set(answer.run, new Map(answer.hyperparameters.map((s) => [s.name, s])));
      }
    }
    return failed;
  }

  /** Tells the axis the step/time mapping of `runs`: their whole learning rates. */
  async loadTimeMappings(runs, maxPoints, signal) {
    if (runs.length === 0) return;
    const answers = await api.fetchBatch(runs.map((info) => ({run: info.name})), {maxPoints, include: [CURVES]}, signal);
    for (const answer of answers) {
      if (answer.learning_rates?.length) this.axis.observe(answer.run, answer.learning_rates[0], true);
    }
  }

  /** Keeps one run's curves from a `batch` answer and tells the axis what they say. */
  takeCurves(answer, key, whole) {
    const lr = answer.learning_rates.map((resp) => ({name: resp.name, optimizer: optimizerOf(resp.name, LEARNING_RATE), resp}));
    if (lr.length > 0) this.axis.observe(answer.run, lr[0].resp, whole);
    this.axis.setPlan(answer.run, Math.max(0, ...answer.schedules.map((s) => s.total_steps ?? 0)) || null);
    this.curves.set(answer.run, {
      key,
      rangeKey: lr.length > 0 ? rangeKey(lr[0].resp) : null,
      lr,
      schedules: new Map(answer.schedules.map((s) => [s.series, s])),
    });
  }

  /**
   * The runs that logged new steps since they were fetched: one tiny request
   * per run (the step range of its learning rate), so that a refresh fetches
   * again only what a live training changed.
   * @param {{name: string, series: string[], optimizers?: string[]}[]} runs
   * @returns {Promise<Set<string>>}
   */
  async changedRuns(runs) {
    const changed = new Set();
    await Promise.all(runs.map(async (info) => {
      const data = this.curves.get(info.name);
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
}
