// Fetching what the main chart draws: how many points per line, each run's
// curves for the window and its marks, and which runs grew since.

import * as api from './api.js';
import {EPOCH, MIN_MAX_POINTS} from './constants.js';
import {classifySeries} from './series_names.js';
import {TIME_AXIS} from './x_axis.js';

/**
 * How many points to ask the server for, for a chart `width` CSS pixels wide:
 * two per device pixel is as much as a line can show.
 * @param {number} width
 * @param {number} [pixelRatio]
 * @returns {number} within the API's limits
 */
export function maxPointsFor(width, pixelRatio = 1) {
  const wanted = Math.round(Math.max(width, 100) * Math.min(Math.max(pixelRatio, 1), 2) * 2);
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
  }

  /** Forgets runs no longer listed. @param {Set<string>} known */
  forget(known) {
    for (const map of [this.curves, this.marks]) {
      for (const run of map.keys()) if (!known.has(run)) map.delete(run);
    }
    this.axis.forget(known);
  }

  /**
   * Fetches one run's learning rates and configured curves for the current window.
   * @param {{name: string, series: string[], schedule: boolean, optimizers?: string[]}} info
   * @param {string} key the window's key
   * @param {number} maxPoints
   * @param {AbortSignal} signal
   */
  async loadCurves(info, key, maxPoints, signal) {
    const run = info.name;
    const {learningRates} = classifySeries(info.series, info.optimizers || []);
    const axis = this.axis;
    if (axis.mode === TIME_AXIS && axis.window && !axis.refs.has(run) && learningRates.length) {
      // Steps of a time window come from the run's step/time mapping: get it first.
      const full = await api.fetchSeries(run, learningRates[0].name, {maxPoints}, signal);
      axis.observe(run, full, true);
    }
    const window = {...axis.stepWindowOf(run), maxPoints};
    const optimizers = info.schedule ? ((info.optimizers || []).length > 1 ? info.optimizers : [null]) : [];
    const [lr, schedules] = await Promise.all([
      Promise.all(learningRates.map(async (s) => ({
        ...s, resp: await api.fetchSeries(run, s.name, window, signal),
      }))),
      Promise.all(optimizers.map((optimizer) =>
        api.fetchSchedule(run, {optimizer, ...window}, signal).catch((error) => {
          if (error.status === 404) return null; // An optimizer without a schedule.
          throw error;
        }))),
    ]);
    const found = schedules.filter(Boolean);
    if (lr.length > 0) axis.observe(run, lr[0].resp, window.start === undefined);
    axis.setPlan(run, Math.max(0, ...found.map((s) => s.total_steps ?? 0)) || null);
    this.curves.set(run, {
      key,
      rangeKey: lr.length > 0 ? rangeKey(lr[0].resp) : null,
      lr,
      schedules: new Map(found.map((s) => [s.series, s])),
    });
  }

  /**
   * Fetches one run's epochs and deviations: whole runs, not windows, so they
   * are kept across zooms until a refresh finds the run grown. Epoch marks are
   * few and change-sampled: every one is fetched.
   * @param {{name: string, series: string[], schedule: boolean, optimizers?: string[]}} info
   * @param {AbortSignal} signal
   */
  async loadMarks(info, signal) {
    const run = info.name;
    const {epoch: hasEpoch} = classifySeries(info.series, info.optimizers || []);
    const [epoch, deviations] = await Promise.all([
      hasEpoch ? api.fetchSeries(run, EPOCH, {}, signal) : null,
      info.schedule ? api.fetchDeviations(run, signal) : null,
    ]);
    this.marks.set(run, {epoch, deviations});
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
