// Where a chart's text labels go so that none covers another: each wants to
// sit just above its point, and one that would cover a label already placed
// moves up above it.

/**
 * The bottom edge of each label, in pixels (y grows downwards), placed in
 * order: a label overlapping one placed before it (closer than `gap` across,
 * less than `lineHeight` apart vertically) moves up to a line above it.
 * @param {{x: number, y: number, width: number}[]} labels centre, wanted bottom, width
 * @param {number} lineHeight a label's height
 * @param {number} [gap] the least room between two labels on one line
 * @returns {number[]} each label's bottom, at or above the one it wanted
 */
export function liftLabels(labels, lineHeight, gap = 4) {
  const placed = [];
  return labels.map(({x, y, width}) => {
    let bottom = y;
    // Only ever moves up, to a line above a placed label: it ends.
    for (let moved = true; moved;) {
      moved = false;
      for (const other of placed) {
        const apart = Math.abs(x - other.x) >= (width + other.width) / 2 + gap ||
          Math.abs(bottom - other.bottom) >= lineHeight;
        if (!apart) {
          bottom = other.bottom - lineHeight;
          moved = true;
        }
      }
    }
    placed.push({x, width, bottom});
    return bottom;
  });
}
