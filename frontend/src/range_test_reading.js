// Reading a learning-rate range test (the `range_test` answer): what each
// rule means, the rate to offer and the line of Python that configures it,
// why the sweep stopped, how high the loss axis goes, and where the
// suggestions are marked on the chart.

import {
  RANGE_TEST_RULES, STOPPED_COMPLETED, STOPPED_DIVERGED, STOPPED_NOT_FINITE, STOPPED_OUT_OF_DATA,
} from './constants.js';
import {interpolateAt, nearestIndex} from './series_math.js';

/** The table's row for the rate where the loss began to blow up. */
export const DIVERGENCE = 'divergence';

/** What each rule (and the divergence) finds, in one line. */
export const EXPLANATIONS = {
  valley: 'the middle of the longest stretch over which the smoothed loss kept falling (fastai\'s default rule)',
  slide: 'where the loss is flat just before it turns up: a window slid down from the highest rate until ' +
    'the slopes at its two ends agree',
  minimum: 'a tenth of the rate at the lowest smoothed loss',
  steep: 'where the smoothed loss fell fastest per decade of rate',
  [DIVERGENCE]: 'where the loss began to blow up, estimated from how fast it grew; train below it',
};

/** The rule offered first, when it found a rate: fastai's default. */
const PREFERRED_RULE = 'valley';
/** The writer's `stop_factor` when a record does not say. */
const DEFAULT_STOP_FACTOR = 4;
/** What the Python line calls an optimizer whose class name Python cannot spell. */
const UNNAMED_OPTIMIZER = 'YourOptimizer';

// Names Python reserves: no class can be called one.
const PYTHON_KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue',
  'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in',
  'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);
// Python's identifiers (PEP 3131, without its normalisation): a letter or
// underscore, then letters, marks, digits and connectors.
const PYTHON_IDENTIFIER = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;

/**
 * A rate to two significant digits, written as Python reads it too: `3.2e-3`
 * below 0.01, else plain (`0.05`, `1`); `—` where there is none. A range test
 * locates a rate within a few percent at best: more digits would only mislead.
 * @param {number|null|undefined} rate
 * @returns {string}
 */
export function formatRate(rate) {
  if (rate == null || !Number.isFinite(rate)) return '—';
  const rounded = Number(rate.toPrecision(2));
  const size = Math.abs(rounded);
  if (size !== 0 && (size < 0.01 || size >= 1e4)) return rounded.toExponential().replace('e+', 'e');
  return String(rounded);
}

/**
 * The suggestions in the tab's order, one per rule (`not recorded` for a rule
 * the answer lacks), then the divergence.
 * @param {{suggestions: {rule: string, learning_rate: number|null, reason: string|null}[],
 *   divergence: number|null}} test
 * @returns {{rule: string, rate: number|null, reason: string|null, explanation: string,
 *   choosable: boolean}[]}
 */
export function suggestionRows({suggestions, divergence}) {
  const rows = RANGE_TEST_RULES.map((rule) => {
    const found = suggestions.find((s) => s.rule === rule);
    return {
      rule,
      rate: found?.learning_rate ?? null,
      reason: found ? found.reason : 'not recorded',
      explanation: EXPLANATIONS[rule],
      choosable: found?.learning_rate != null,
    };
  });
  rows.push({
    rule: DIVERGENCE,
    rate: divergence,
    reason: divergence == null ? 'the loss did not blow up within the sweep' : null,
    explanation: EXPLANATIONS[DIVERGENCE],
    choosable: false,
  });
  return rows;
}

/**
 * The rule whose rate is offered first: `valley`, else the first rule with a rate.
 * @param {{rule: string, learning_rate: number|null}[]} suggestions
 * @returns {string|null} null when no rule found a rate
 */
export function suggestedRule(suggestions) {
  const rated = suggestions.filter((s) => s.learning_rate != null);
  return (rated.find((s) => s.rule === PREFERRED_RULE) ?? rated[0])?.rule ?? null;
}

/**
 * Whether Python can call a class by this name: an identifier, not a keyword.
 * @param {unknown} name
 * @returns {boolean}
 */
export function isPythonIdentifier(name) {
  return typeof name === 'string' && PYTHON_IDENTIFIER.test(name) && !PYTHON_KEYWORDS.has(name);
}

/**
 * The line of Python that configures `rate` on the range test's optimizer
 * class (`YourOptimizer` when its recorded name is not one Python can call).
 * @param {string|null} optimizer the class name the range test recorded
 * @param {number} rate
 * @returns {string}
 */
export function pythonLine(optimizer, rate) {
  const name = isPythonIdentifier(optimizer) ? optimizer : UNNAMED_OPTIMIZER;
  return `keras.optimizers.${name}(learning_rate=${formatRate(rate)})`;
}

function stopFactor(settings) {
  return Number.isFinite(settings?.stop_factor) ? settings.stop_factor : DEFAULT_STOP_FACTOR;
}

/**
 * Why the sweep ended, as a sentence.
 * @param {{stopped: string|null, learning_rates: number[], settings: Record<string, any>}} test
 * @returns {string}
 */
export function stopNote({stopped, learning_rates: rates, settings}) {
  const planned = Number.isFinite(settings?.num_steps) ? ` of ${settings.num_steps}` : '';
  const after = `Stopped after ${rates.length}${planned} steps`;
  switch (stopped) {
    case STOPPED_COMPLETED: return `Ran all ${rates.length} steps, up to max_lr.`;
    case STOPPED_DIVERGED: return `${after}: the smoothed loss passed ${stopFactor(settings)} × its lowest value.`;
    case STOPPED_NOT_FINITE: return `${after}: the loss became NaN or infinite.`;
    case STOPPED_OUT_OF_DATA: return `${after}: the data ran out before max_lr.`;
    default: return `${after}.`;
  }
}

/**
 * The highest loss the chart shows. A sweep ends in a blow-up (it stops once
 * the smoothed loss passes `stop_factor` × its lowest value, or at a NaN),
 * and drawn whole that would flatten everything before it. So the axis stops
 * at that stop level, or at the first smoothed loss when that is higher (a
 * loss that fell more than `stop_factor` times keeps its start in view);
 * what goes higher runs off the top.
 * @param {{smoothed_losses: (number|null)[], settings: Record<string, any>}} test
 * @returns {number|null} null without a finite, positive smoothed loss
 */
export function lossCeiling({smoothed_losses: smoothed, settings}) {
  const finite = smoothed.filter(Number.isFinite);
  if (finite.length === 0) return null;
  const lowest = finite.reduce((a, b) => Math.min(a, b));
  const ceiling = Math.max(finite[0], stopFactor(settings) * lowest);
  return ceiling > 0 ? ceiling : null;
}

/**
 * The chart's mark of each suggestion with a rate: at its rate, on the
 * smoothed loss there (interpolated on the log rate axis; the nearest step's
 * when a neighbour is missing), no higher than `ceiling`; labelled with its
 * rule and rate.
 * @param {{learning_rates: number[], smoothed_losses: (number|null)[],
 *   suggestions: {rule: string, learning_rate: number|null}[]}} test
 * @param {number|null} ceiling the loss axis' top
 * @returns {{rule: string, x: number, y: number|null, label: string}[]}
 */
export function suggestionMarks(test, ceiling) {
  const logRates = test.learning_rates.map(Math.log10);
  return test.suggestions.filter((s) => s.learning_rate > 0).map(({rule, learning_rate: rate}) => {
    const x = Math.log10(rate);
    let y = interpolateAt(logRates, test.smoothed_losses, x) ?? test.smoothed_losses[nearestIndex(logRates, x)] ?? null;
    if (y != null && ceiling != null) y = Math.min(y, ceiling);
    return {rule, x: rate, y, label: `${rule} ${formatRate(rate)}`};
  });
}
