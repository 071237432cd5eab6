// What the tab remembers between visits, in localStorage: the x axis, the
// log scale, the run filter, the runs deselected, auto-refresh.

import {STEP_AXIS} from './x_axis.js';

export const PREFS_KEY = 'tb-lr-plugin.prefs';
// TensorBoard reloads its logdir every 30 s by default.
export const REFRESH_INTERVAL_MS = 30000;

/**
 * @typedef {object} Preferences
 * @property {string} filter
 * @property {string} xMode
 * @property {boolean} mainLog
 * @property {boolean} autoRefresh
 * @property {string[]} deselected
 * @property {number|undefined} refreshSeconds no control on the page: set by hand (or a test)
 */

/**
 * The preferences saved, each checked (anything missing or malformed: its default).
 * @param {string|null} text what localStorage holds
 * @returns {Preferences}
 */
export function parsePreferences(text) {
  let saved = {};
  try {
    saved = JSON.parse(text || '{}') || {};
  } catch {
    // Unreadable: the defaults.
  }
  const seconds = Number(saved.refreshSeconds);
  return {
    filter: typeof saved.filter === 'string' ? saved.filter : '',
    xMode: typeof saved.xMode === 'string' ? saved.xMode : STEP_AXIS,
    mainLog: saved.mainLog === true,
    autoRefresh: saved.autoRefresh !== false,
    deselected: Array.isArray(saved.deselected) ? saved.deselected.filter((n) => typeof n === 'string') : [],
    refreshSeconds: seconds >= 1 ? seconds : undefined,
  };
}

/** @returns {Preferences} */
export function loadPreferences() {
  try {
    return parsePreferences(localStorage.getItem(PREFS_KEY));
  } catch {
    return parsePreferences(null); // Storage may be off (private mode).
  }
}

/** @param {Preferences} preferences */
export function savePreferences(preferences) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify({
      ...preferences, deselected: preferences.deselected.slice(0, 1000),
    }));
  } catch {
    // Storage may be off (private mode): preferences just do not persist.
  }
}
