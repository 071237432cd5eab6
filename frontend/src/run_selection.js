// Which runs are shown: the run filter, and the selection after the run list
// changed.

/**
 * A case-insensitive run filter from what the user typed. An invalid regular
 * expression still filters (as plain text) and reports why it is invalid.
 * @param {string} text
 * @returns {{test: (name: string) => boolean, error: string | null}}
 */
export function compileFilter(text) {
  if (!text) return {test: () => true, error: null};
  try {
    const pattern = new RegExp(text, 'i');
    return {test: (name) => pattern.test(name), error: null};
  } catch (error) {
    const needle = text.toLowerCase();
    return {test: (name) => name.toLowerCase().includes(needle), error: error.message};
  }
}

/**
 * Which runs to select after the run list changed: the ones selected before,
 * plus runs that are new (a new run of a live training shows up selected).
 * @param {Set<string>} known runs listed before
 * @param {Set<string>} selected runs selected before
 * @param {string[]} names runs listed now
 * @returns {Set<string>}
 */
export function nextSelection(known, selected, names) {
  return new Set(names.filter((n) => selected.has(n) || !known.has(n)));
}
