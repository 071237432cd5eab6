// The x axis: steps, or seconds since a run's first logged step, and the
// step window to fetch for an x window.

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
