// How much to fetch and when to fetch again: points per line from a chart's
// width, and what tells that a run grew.

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
