// The x axis: steps, seconds since a run's first logged step, or the fraction
// of the run's planned steps; the step window to fetch for an x window.

import {formatAxisStep, formatDuration, formatPercent, formatStep} from './format.js';
import {interpolateAt} from './series_math.js';

/**
 * x values on the relative-time axis: a point's own wall time where it has
 * one, else its time interpolated from the run's (step, wall time) points.
 * @param {ArrayLike<number>} steps
 * @param {ArrayLike<number|null>|null|undefined} wallTimes the points' own, if any
 * @param {ArrayLike<number>} refSteps
 * @param {ArrayLike<number|null>} refTimes
 * @returns {(number|null)[]} seconds since the run's first logged step
 */
export function relativeX(steps, wallTimes, refSteps, refTimes) {
  const ref = knownTimes(refSteps, refTimes);
  if (ref.steps.length === 0) return Array.from(steps, () => null);
  const t0 = ref.times[0];
  return Array.from(steps, (s, i) => {
    const own = wallTimes ? wallTimes[i] : null;
    if (own != null && Number.isFinite(own)) return own - t0;
    const t = interpolateAt(ref.steps, ref.times, s);
    return t == null ? null : t - t0;
  });
}

/**
 * The step logged at a relative time (the inverse of `relativeX`),
 * clamped to the run's logged steps.
 * @param {number} seconds since the run's first logged step
 * @param {ArrayLike<number>} refSteps
 * @param {ArrayLike<number|null>} refTimes
 * @returns {number|null}
 */
export function relativeTimeToStep(seconds, refSteps, refTimes) {
  const ref = knownTimes(refSteps, refTimes);
  const n = ref.steps.length;
  if (n === 0) return null;
  const t = ref.times[0] + seconds;
  if (t <= ref.times[0]) return ref.steps[0];
  if (t >= ref.times[n - 1]) return ref.steps[n - 1];
  return interpolateAt(ref.times, ref.steps, t);
}

function knownTimes(refSteps, refTimes) {
  const steps = [];
  const times = [];
  for (let i = 0; i < refSteps.length; i++) {
    const t = refTimes[i];
    // Wall times never go back; a point that does (a resumed run) is skipped.
    if (t != null && Number.isFinite(t) && (times.length === 0 || t >= times[times.length - 1])) {
      steps.push(refSteps[i]);
      times.push(t);
    }
  }
  return {steps, times};
}

/**
 * The integer step window `[start, end]` to fetch for an x-scale range.
 * @param {number} min
 * @param {number} max
 * @returns {{start: number, end: number}}
 */
export function stepWindow(min, max) {
  const start = Math.max(0, Math.floor(Math.min(min, max)));
  const end = Math.max(start, Math.ceil(Math.max(min, max)));
  return {start, end};
}

/** The x axis' units: steps, seconds since a run's first step, or the fraction of its plan. */
export const STEP_AXIS = 'step';
export const TIME_AXIS = 'time';
export const FRACTION_AXIS = 'fraction';
export const X_AXES = [STEP_AXIS, TIME_AXIS, FRACTION_AXIS];

/**
 * Where each run's points go on the x axis, and back: the one place that
 * knows the axis' unit, its window, and what each run maps with (its step
 * and wall-time points, its last step, the steps it planned).
 */
export class XAxis {
  /** @param {string} [mode] one of `X_AXES` (anything else: steps) */
  constructor(mode) {
    this.mode = X_AXES.includes(mode) ? mode : STEP_AXIS;
    /** @type {{min: number, max: number} | null} the x window, in this axis' unit */
    this.window = null;
    /** run -> its learning rate's (steps, wall times), fetched whole: the step/time mapping */
    this.refs = new Map();
    /** run -> the last step it logged */
    this.lasts = new Map();
    /** run -> the steps its schedule planned (`total_steps`) */
    this.plans = new Map();
  }

  /**
   * Notes what a learning-rate answer tells about its run: its last step, and
   * when `whole` (not a window) its step/time points.
   * @param {string} run
   * @param {{steps: number[], wall_times?: (number|null)[], step_range?: [number, number]|null}} resp
   * @param {boolean} whole
   */
  observe(run, resp, whole) {
    const last = resp.step_range ? resp.step_range[1] : resp.steps[resp.steps.length - 1];
    if (last != null) this.lasts.set(run, last);
    if (whole) this.refs.set(run, {steps: resp.steps, wall_times: resp.wall_times || []});
  }

  /**
   * Notes the steps a run planned (null: unknown).
   * @param {string} run
   * @param {number|null|undefined} totalSteps
   */
  setPlan(run, totalSteps) {
    if (totalSteps != null && totalSteps > 0) this.plans.set(run, totalSteps);
    else this.plans.delete(run);
  }

  /** Forgets runs no longer listed. @param {Set<string>} known */
  forget(known) {
    for (const map of [this.refs, this.lasts, this.plans]) {
      for (const run of map.keys()) if (!known.has(run)) map.delete(run);
    }
  }

  /** @param {string} run @returns {number|null} the last step it logged */
  lastStep(run) {
    return this.lasts.get(run) ?? null;
  }

  /**
   * The steps x = 1 stands for on the fraction axis: the run's plan, else the
   * steps it wrote so far.
   * @param {string} run
   * @returns {{steps: number, planned: boolean} | null}
   */
  span(run) {
    const plan = this.plans.get(run);
    if (plan) return {steps: plan, planned: true};
    const last = this.lasts.get(run);
    return last != null ? {steps: last + 1, planned: false} : null;
  }

  /**
   * x values of a run's points.
   * @param {string} run
   * @param {ArrayLike<number>} steps
   * @param {ArrayLike<number|null>|null} [wallTimes] the points' own, if any
   * @returns {ArrayLike<number|null>}
   */
  toX(run, steps, wallTimes) {
    if (this.mode === STEP_AXIS) return steps;
    if (this.mode === FRACTION_AXIS) {
      const span = this.span(run);
      return Array.from(steps, (s) => (span ? s / span.steps : null));
    }
    const ref = this.refs.get(run);
    if (!ref) return Array.from(steps, () => null);
    return relativeX(steps, wallTimes, ref.steps, ref.wall_times);
  }

  /** The step of `run` at x (null where it has none). @param {string} run @param {number} x */
  stepAt(run, x) {
    if (this.mode === STEP_AXIS) return Math.round(x);
    if (this.mode === FRACTION_AXIS) {
      const span = this.span(run);
      return span ? Math.round(x * span.steps) : null;
    }
    const ref = this.refs.get(run);
    if (!ref) return null;
    const step = relativeTimeToStep(x, ref.steps, ref.wall_times);
    return step == null ? null : Math.round(step);
  }

  /**
   * The step window of `run` to fetch for the x window, or {} for everything.
   * @param {string} run
   * @returns {{start?: number, end?: number}}
   */
  stepWindowOf(run) {
    if (!this.window) return {};
    const {min, max} = this.window;
    if (this.mode === STEP_AXIS) return stepWindow(min, max);
    if (this.mode === FRACTION_AXIS) {
      const span = this.span(run);
      return span ? stepWindow(min * span.steps, max * span.steps) : {};
    }
    const ref = this.refs.get(run);
    if (!ref) return {};
    const a = relativeTimeToStep(min, ref.steps, ref.wall_times);
    const b = relativeTimeToStep(max, ref.steps, ref.wall_times);
    return a == null || b == null ? {} : stepWindow(a, b);
  }

  /** An x tick label. @param {number} x */
  formatX(x) {
    if (this.mode === TIME_AXIS) return formatDuration(x);
    if (this.mode === FRACTION_AXIS) return formatPercent(x);
    return formatAxisStep(x);
  }

  /** A tooltip's title at x. @param {number} x */
  title(x) {
    if (this.mode === TIME_AXIS) return `${formatDuration(x)} after start`;
    if (this.mode === FRACTION_AXIS) return `${formatPercent(x)} of the run`;
    return `Step ${formatStep(Math.round(x))}`;
  }

  /**
   * What x means on the fraction axis, for a chart's legend: each run's plan,
   * or the steps written so far for `runs` that planned none (null on the
   * other axes, whose ticks say it).
   * @param {string[]} runs the runs drawn
   * @returns {string|null}
   */
  describe(runs) {
    if (this.mode !== FRACTION_AXIS) return null;
    const unplanned = runs.filter((run) => !this.plans.has(run));
    const text = "x: fraction of each run's planned steps";
    if (unplanned.length === 0) return text;
    return `${text}; of the steps written so far for ${unplanned.join(', ')} (no plan known)`;
  }

  /** What a tab fetched for this window with `maxPoints` per line: the cache key. */
  key(maxPoints) {
    // Without a window the data is the same on every axis; only x changes.
    return JSON.stringify([this.window ? this.mode : null, this.window, maxPoints]);
  }
}
