// Reading update ratios (||w_after - w_before|| / ||w_before||): the colour
// scale, log and diverging around 1e-3, the usual healthy value (blue: a
// layer that barely learns; red: one whose rate is too high for it); what a
// heat-map cell shows; which layers to chart first.

/** The scale's ends and centre, as powers of ten. */
export const LOG_MIN = -6;
export const LOG_MAX = 0;
export const LOG_CENTRE = -3;
/** The guide band drawn on the ratio chart: the usual healthy range. */
export const HEALTHY = [1e-4, 1e-2];

// Stops from LOG_MIN to LOG_MAX, evenly spaced: RdYlBu's ends, a neutral centre.
const STOPS = [
  [49, 54, 149],
  [116, 173, 209],
  [235, 235, 235],
  [244, 109, 67],
  [165, 0, 38],
];

/**
 * The colour of a ratio, clamped to the scale's ends.
 * @param {number} ratio > 0
 * @returns {[number, number, number]} RGB, 0-255
 */
export function ratioRgb(ratio) {
  const log = Math.log10(ratio);
  const t = Math.min(Math.max((log - LOG_MIN) / (LOG_MAX - LOG_MIN), 0), 1) * (STOPS.length - 1);
  const i = Math.min(Math.floor(t), STOPS.length - 2);
  const f = t - i;
  return /** @type {[number, number, number]} */ (
    STOPS[i].map((a, c) => Math.round(a + (STOPS[i + 1][c] - a) * f)));
}

/**
 * The CSS gradient of the whole scale (the legend's bar), left to right.
 * @returns {string}
 */
export function scaleGradient() {
  const stops = STOPS.map((rgb, i) => `rgb(${rgb.join(',')}) ${(100 * i) / (STOPS.length - 1)}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/**
 * What a heat-map cell shows of its column's lowest and highest ratio: the
 * one farther from the healthy centre (in decades), so a one-step spike or
 * a stalled step is never averaged away. Zero counts as far below.
 * @param {number|null} low
 * @param {number|null} high
 * @returns {number|null} null when the column has no finite ratio
 */
export function cellRatio(low, high) {
  if (low == null) return high ?? null;
  if (high == null) return low;
  const distance = (r) => (r > 0 ? Math.abs(Math.log10(r) - LOG_CENTRE) : Infinity);
  return distance(low) > distance(high) ? low : high;
}

/**
 * The legend's ticks: every decade of the scale, where it sits (0 to 1).
 * @returns {{label: string, at: number}[]}
 */
export function scaleTicks() {
  const ticks = [];
  for (let e = LOG_MIN; e <= LOG_MAX; e++) {
    ticks.push({label: e === 0 ? '1' : `1e${e}`, at: (e - LOG_MIN) / (LOG_MAX - LOG_MIN)});
  }
  return ticks;
}

/**
 * The layers to chart first: the one with the highest ratio and the one with
 * the lowest (the likeliest to need a look), from a heat map's cells.
 * @param {{layer: string, low: (number|null)[], high: (number|null)[]}[]} layers
 * @returns {string[]} one or two layers; none without a finite ratio
 */
export function firstPicks(layers) {
  let top = null;
  let bottom = null;
  for (const {layer, low, high} of layers) {
    for (const v of high) if (v != null && (top === null || v > top.value)) top = {layer, value: v};
    for (const v of low) if (v != null && (bottom === null || v < bottom.value)) bottom = {layer, value: v};
  }
  return [...new Set([top?.layer, bottom?.layer].filter((layer) => layer != null))];
}
