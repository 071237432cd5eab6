// Numbers, steps, durations, configurations and problems as the text shown.

/**
 * A learning rate or other value, to six significant digits (a float32 has
 * about seven), without trailing zeros; `—` where there is none.
 * @param {number|null|undefined} value
 * @returns {string}
 */
export function formatValue(value) {
  if (value == null) return '—';
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e-4 && abs < 1e6) return String(Number(value.toPrecision(6)));
  return value.toExponential(5).replace(/\.?0+e/, 'e');
}

/**
 * applied / expected, as a factor: `1`, `0.5`, `—` when undefined.
 * @param {number|null|undefined} applied
 * @param {number|null|undefined} expected
 * @returns {string}
 */
export function formatRatio(applied, expected) {
  if (applied == null || expected == null || !Number.isFinite(applied) ||
      !Number.isFinite(expected) || expected === 0) {
    return '—';
  }
  return `×${String(Number((applied / expected).toPrecision(4)))}`;
}

/**
 * A step with thousands separators: `12,345`.
 * @param {number|null|undefined} step
 * @returns {string}
 */
export function formatStep(step) {
  if (step == null || !Number.isFinite(step)) return '—';
  return Math.round(step).toLocaleString('en-US');
}

/**
 * A compact axis label for a step: `950`, `2.5k`, `12k`, `1.5M`.
 * @param {number} step
 * @returns {string}
 */
export function formatAxisStep(step) {
  const abs = Math.abs(step);
  if (abs >= 1e6) return `${Number((step / 1e6).toPrecision(3))}M`;
  if (abs >= 1e3) return `${Number((step / 1e3).toPrecision(3))}k`;
  return String(Number(step.toPrecision(6)));
}

/**
 * A duration in seconds, for the relative-time axis and tooltip:
 * `0 s`, `4.5 s`, `3 min 20 s`, `2 h 05 min`, `1 d 3 h`.
 * @param {number|null|undefined} seconds
 * @returns {string}
 */
export function formatDuration(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return '—';
  const sign = seconds < 0 ? '−' : '';
  let s = Math.abs(seconds);
  if (s < 60) return `${sign}${Number(s.toPrecision(s < 10 ? 2 : 3))} s`;
  s = Math.round(s);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (d > 0) return `${sign}${d} d ${h} h`;
  if (h > 0) return `${sign}${h} h ${String(m).padStart(2, '0')} min`;
  return `${sign}${m} min ${String(r).padStart(2, '0')} s`;
}

/**
 * A schedule's configuration as rows of a table: nested objects (a wrapped
 * schedule's `config`) become dotted keys, lists are joined.
 * @param {Record<string, unknown>} config
 * @returns {[string, string][]}
 */
export function configRows(config) {
  const rows = [];
  const walk = (value, key) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0 && key) rows.push([key, '{}']);
      for (const [k, v] of entries) walk(v, key ? `${key}.${k}` : k);
    } else {
      rows.push([key, formatConfigValue(value)]);
    }
  };
  walk(config || {}, '');
  return rows;
}

/**
 * One configuration value as text.
 * @param {unknown} value
 * @returns {string}
 */
export function formatConfigValue(value) {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'number') return formatValue(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (Array.isArray(value)) return `[${value.map(formatConfigValue).join(', ')}]`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * One line of text for a problem the server reports: where (the run and
 * series the tab asked about, the steps) and what.
 * @param {{message: string, step_range?: number[]|null, where?: string}} problem
 * @returns {string}
 */
export function describeProblem(problem) {
  const message = String(problem?.message ?? problem);
  const where = problem?.where ? [problem.where] : [];
  const range = problem?.step_range;
  if (Array.isArray(range) && range.length === 2) {
    where.push(range[0] === range[1] ? `step ${formatStep(range[0])}` :
      `steps ${formatStep(range[0])}–${formatStep(range[1])}`);
  }
  return where.length > 0 ? `${where.join(', ')}: ${message}` : message;
}

/**
 * A fraction as a percentage, for the fraction-of-the-run axis: `25 %`, `0.5 %`, `120 %`.
 * @param {number|null|undefined} fraction
 * @returns {string}
 */
export function formatPercent(fraction) {
  if (fraction == null || !Number.isFinite(fraction)) return '—';
  return `${Number((fraction * 100).toPrecision(3))} %`;
}
