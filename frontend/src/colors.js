// Run colours: each run keeps its colour whatever is filtered or selected.

/**
 * Run colours: readable on light and dark backgrounds, distinct in order.
 * A run keeps its colour whatever is filtered or selected.
 */
export const PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
  '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#3366cc', '#dc3912',
  '#0099c6', '#dd4477', '#66aa00', '#b82e2e', '#316395', '#994499',
];

/**
 * The colour of a run's k-th optimizer: the run's colour, fainter for each
 * further optimizer.
 * @param {string} color `#rrggbb`
 * @param {number} k
 * @returns {string}
 */
export function lineColor(color, k) {
  const alpha = ['', 'b3', '80', '59'][k % 4];
  return /^#[0-9a-f]{6}$/i.test(color) ? color + alpha : color;
}

/**
 * Assigns each run a colour by its position in the sorted list of all runs.
 * @param {string[]} names every run name, in any order
 * @returns {Map<string, string>} run name to CSS colour
 */
export function runColors(names) {
  const sorted = [...names].sort();
  return new Map(sorted.map((name, i) => [name, PALETTE[i % PALETTE.length]]));
}
