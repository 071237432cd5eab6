// The deviations table's rows, and the words naming who set a rate.

import {SOURCE_CALLBACK, SOURCE_MANUAL} from './constants.js';
import {formatRatio} from './format.js';

/**
 * Who set a rate, as the `deviations` route sends it.
 * @typedef {{kind: string, callback?: string|null}} Source
 */

/**
 * The deviations of every run in one list, ordered by run then step, each
 * with the text shown in the table.
 * @param {Map<string, {series: string, step: number, end_step?: number, steps?: number,
 *   applied: number|null, expected: number|null, source: Source}[]>} eventsByRun
 * @returns {{run: string, series: string, step: number, endStep: number, steps: number,
 *   applied: number|null, expected: number|null, source: Source, ratio: string}[]}
 */
export function deviationRows(eventsByRun) {
  const rows = [];
  for (const [run, events] of eventsByRun) {
    for (const e of events) {
      rows.push({
        run,
        series: e.series,
        step: e.step,
        endStep: e.end_step ?? e.step,
        steps: e.steps ?? 1,
        applied: e.applied,
        expected: e.expected,
        source: e.source,
        ratio: formatRatio(e.applied, e.expected),
      });
    }
  }
  rows.sort((a, b) => (a.run < b.run ? -1 : a.run > b.run ? 1 : a.step - b.step));
  return rows;
}

/**
 * The few words naming who set a rate: a callback's class, `manual assign`
 * or `unknown`.
 * @param {Source} source
 * @returns {string}
 */
export function sourceLabel(source) {
  if (source?.kind === SOURCE_CALLBACK && source.callback) return source.callback;
  if (source?.kind === SOURCE_MANUAL) return 'manual assign';
  return 'unknown';
}

/**
 * A sentence naming what caused a deviation, for a user who has not read
 * the docs.
 * @param {Source} source
 * @returns {string}
 */
export function explainSource(source) {
  if (source?.kind === SOURCE_CALLBACK && source.callback) {
    if (source.callback === 'LearningRateScheduler') return 'LearningRateScheduler set the rate';
    if (source.callback === 'ReduceLROnPlateau') return 'ReduceLROnPlateau changed the rate';
    return `${source.callback} (a callback) changed the rate`;
  }
  if (source?.kind === SOURCE_MANUAL) return 'the rate was assigned by hand';
  return 'the applied rate is not the configured schedule (set inside a compiled function, or the schedule was never applied)';
}
