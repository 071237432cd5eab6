// Looking values up in a series' ascending steps: the value at a step, an
// interpolation, epoch boundaries, a held value's end, the y range shown.

import {SAMPLED_EVERY_STEP, SAMPLED_ON_CHANGE} from './constants.js';

/**
 * Index of the first element >= x in an ascending array.
 * @param {ArrayLike<number>} sorted
 * @param {number} x
 * @returns {number} in [0, sorted.length]
 */
export function lowerBound(sorted, x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Index of the element nearest to x (the earlier one on a tie), -1 if empty.
 * @param {ArrayLike<number>} sorted ascending
 * @param {number} x
 * @returns {number}
 */
export function nearestIndex(sorted, x) {
  if (sorted.length === 0) return -1;
  const i = lowerBound(sorted, x);
  if (i === 0) return 0;
  if (i === sorted.length) return i - 1;
  return x - sorted[i - 1] <= sorted[i] - x ? i - 1 : i;
}

/**
 * The value a series shows at `step`.
 * Change-sampled series (`epoch`, `optimizer/*`) hold a value until the next
 * point, so their value is the last point at or before `step`. Step-sampled
 * series answer with their nearest point, and say which step that is.
 * @param {number[]} steps ascending
 * @param {(number|null)[]} values
 * @param {number} step
 * @param {'step'|'change'} sampling
 * @returns {{step: number, value: number|null, exact: boolean} | null} null when
 *   nothing is known there (empty series, or before a held series begins)
 */
export function valueAt(steps, values, step, sampling = SAMPLED_EVERY_STEP) {
  if (!steps || steps.length === 0) return null;
  if (sampling === SAMPLED_ON_CHANGE) {
    const i = lowerBound(steps, step + 1) - 1;
    if (i < 0) return null;
    return {step, value: values[i], exact: true};
  }
  const i = nearestIndex(steps, step);
  return {step: steps[i], value: values[i], exact: steps[i] === step};
}

/**
 * Linear interpolation of a series at x; exact where x is a point.
 * @param {ArrayLike<number>} xs ascending
 * @param {ArrayLike<number|null>} ys
 * @param {number} x
 * @returns {number|null} null outside the series or next to a missing value
 */
export function interpolateAt(xs, ys, x) {
  const n = xs.length;
  if (n === 0 || x < xs[0] || x > xs[n - 1]) return null;
  const i = lowerBound(xs, x);
  if (xs[i] === x) return ys[i] ?? null;
  const y0 = ys[i - 1];
  const y1 = ys[i];
  if (y0 == null || y1 == null) return null;
  return y0 + ((y1 - y0) * (x - xs[i - 1])) / (xs[i] - xs[i - 1]);
}

/**
 * Steps where an epoch begins, after the first one.
 * @param {number[]} steps of the `epoch` series (change-sampled)
 * @param {(number|null)[]} values epoch indices
 * @returns {number[]}
 */
export function epochBoundaries(steps, values) {
  const out = [];
  for (let i = 1; i < steps.length; i++) {
    if (values[i] !== values[i - 1]) out.push(steps[i]);
  }
  return out;
}

/**
 * A change-sampled series drawn to `endStep`: its last value holds until the
 * run's last step, so the step line does not stop at the last change.
 * @param {number[]} steps
 * @param {(number|null)[]} values
 * @param {number|null|undefined} endStep
 * @returns {{steps: number[], values: (number|null)[]}}
 */
export function extendHold(steps, values, endStep) {
  const n = steps.length;
  if (n === 0 || endStep == null || endStep <= steps[n - 1]) return {steps, values};
  return {steps: [...steps, endStep], values: [...values, values[n - 1]]};
}

/**
 * The smallest and largest y drawn in an x window, over lines with their own
 * ascending x. The point just outside each edge counts too: a line runs to it
 * (and a held value comes from before the window).
 * @param {[ArrayLike<number>, ArrayLike<number|null>][]} lines `[xs, ys]` each
 * @param {{min: number, max: number}|null} window null: everything
 * @returns {[number, number]|null} null when nothing is drawn
 */
export function yExtent(lines, window) {
  let min = Infinity;
  let max = -Infinity;
  for (const [xs, ys] of lines) {
    let from = 0;
    let to = xs.length;
    if (window) {
      from = Math.max(0, lowerBound(xs, window.min) - 1);
      to = Math.min(xs.length, lowerBound(xs, window.max) + 1);
    }
    for (let i = from; i < to; i++) {
      const y = ys[i];
      if (y == null || !Number.isFinite(y)) continue;
      if (y < min) min = y;
      if (y > max) max = y;
    }
  }
  return min <= max ? [min, max] : null;
}
