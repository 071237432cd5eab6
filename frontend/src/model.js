// Pure data shaping and formatting for the LR tab: no DOM, no fetch, so that
// Node's test runner covers it (frontend/test/model.test.js).

/** Series-name prefixes of the HTTP API (docs/ARCHITECTURE.md "Series names"). */
export const LEARNING_RATE = 'learning_rate';
export const EPOCH = 'epoch';
export const OPTIMIZER_PREFIX = 'optimizer/';
export const LAYERS_PREFIX = 'layers/';
/** The fewest points the `series` route will downsample to. */
export const MIN_MAX_POINTS = 10;

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
 * The optimizer a per-optimizer series name belongs to.
 * @param {string} name e.g. `learning_rate/adam`
 * @param {string} base e.g. `learning_rate`
 * @returns {string | null} `''` for the unsuffixed name, null when not `base`
 */
export function optimizerOf(name, base) {
  if (name === base) return '';
  if (name.startsWith(base + '/')) return name.slice(base.length + 1);
  return null;
}

/**
 * Sorts a run's series into what the tab draws.
 * `optimizer[/<optimizer>]/<name>`: the optimizer segment is recognised only
 * when the run names it among its optimizers (a hyperparameter name may hold
 * a slash too).
 * @param {string[]} names the run's series (from the `runs` route)
 * @param {string[]} optimizers the run's named optimizers (may be empty)
 * @returns {{
 *   learningRates: {name: string, optimizer: string}[],
 *   epoch: boolean,
 *   hyperparameters: {name: string, optimizer: string, key: string}[],
 *   layers: {name: string, layer: string, key: string}[],
 * }}
 */
export function classifySeries(names, optimizers = []) {
  const result = {learningRates: [], epoch: false, hyperparameters: [], layers: []};
  for (const name of names) {
    const optimizer = optimizerOf(name, LEARNING_RATE);
    if (optimizer !== null) {
      result.learningRates.push({name, optimizer});
    } else if (name === EPOCH) {
      result.epoch = true;
    } else if (name.startsWith(OPTIMIZER_PREFIX)) {
      const rest = name.slice(OPTIMIZER_PREFIX.length);
      const owner = optimizers.find((o) => o && rest.startsWith(o + '/'));
      result.hyperparameters.push(
          owner ?
            {name, optimizer: owner, key: rest.slice(owner.length + 1)} :
            {name, optimizer: '', key: rest});
    } else if (name.startsWith(LAYERS_PREFIX)) {
      const {layer, key} = layerOf(name);
      result.layers.push({name, layer, key});
    }
  }
  return result;
}

/**
 * Splits `layers/<layer path>/<name>`: the path may hold slashes, the value
 * name is the last segment.
 * @param {string} name
 * @returns {{layer: string, key: string}}
 */
export function layerOf(name) {
  const rest = name.startsWith(LAYERS_PREFIX) ? name.slice(LAYERS_PREFIX.length) : name;
  const cut = rest.lastIndexOf('/');
  return cut < 0 ? {layer: '', key: rest} : {layer: rest.slice(0, cut), key: rest.slice(cut + 1)};
}

/**
 * The small charts below the main one: one per hyperparameter, and one per
 * recorded value grouped by layer, each listing the (run, series) it draws.
 * @param {{name: string, series: string[], optimizers?: string[]}[]} runs selected runs
 * @returns {{
 *   hyperparameters: {key: string, lines: {run: string, series: string, label: string}[]}[],
 *   layers: {layer: string, charts: {key: string, lines: {run: string, series: string, label: string}[]}[]}[],
 * }}
 */
export function chartGroups(runs) {
  const hyper = new Map();
  const layers = new Map();
  for (const run of runs) {
    const found = classifySeries(run.series, run.optimizers || []);
    for (const h of found.hyperparameters) {
      if (!hyper.has(h.key)) hyper.set(h.key, []);
      const label = h.optimizer ? `${run.name} · ${h.optimizer}` : run.name;
      hyper.get(h.key).push({run: run.name, series: h.name, label});
    }
    for (const l of found.layers) {
      if (!layers.has(l.layer)) layers.set(l.layer, new Map());
      const charts = layers.get(l.layer);
      if (!charts.has(l.key)) charts.set(l.key, []);
      charts.get(l.key).push({run: run.name, series: l.name, label: run.name});
    }
  }
  const byKey = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  return {
    hyperparameters: [...hyper].map(([key, lines]) => ({key, lines})).sort(byKey),
    layers: [...layers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([layer, charts]) => ({
      layer,
      charts: [...charts].map(([key, lines]) => ({key, lines})).sort(byKey),
    })),
  };
}

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
export function valueAt(steps, values, step, sampling = 'step') {
  if (!steps || steps.length === 0) return null;
  if (sampling === 'change') {
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

/**
 * x values on the relative-time axis: a point's own wall time where it has
 * one, else its time interpolated from the run's (step, wall time) points.
 * @param {ArrayLike<number>} steps
 * @param {ArrayLike<number|null>|null|undefined} wallTimes the points' own, if any
 * @param {ArrayLike<number>} refSteps
 * @param {ArrayLike<number|null>} refTimes
 * @returns {(number|null)[]} seconds since the run's first logged step
 */
export function relativeX(steps, wallTimes, refSteps, refTimes) {
  const ref = knownTimes(refSteps, refTimes);
  if (ref.steps.length === 0) return Array.from(steps, () => null);
  const t0 = ref.times[0];
  return Array.from(steps, (s, i) => {
    const own = wallTimes ? wallTimes[i] : null;
    if (own != null && Number.isFinite(own)) return own - t0;
    const t = interpolateAt(ref.steps, ref.times, s);
    return t == null ? null : t - t0;
  });
}

/**
 * The step logged at a relative time (the inverse of `relativeX`),
 * clamped to the run's logged steps.
 * @param {number} seconds since the run's first logged step
 * @param {ArrayLike<number>} refSteps
 * @param {ArrayLike<number|null>} refTimes
 * @returns {number|null}
 */
export function relativeTimeToStep(seconds, refSteps, refTimes) {
  const ref = knownTimes(refSteps, refTimes);
  const n = ref.steps.length;
  if (n === 0) return null;
  const t = ref.times[0] + seconds;
  if (t <= ref.times[0]) return ref.steps[0];
  if (t >= ref.times[n - 1]) return ref.steps[n - 1];
  return interpolateAt(ref.times, ref.steps, t);
}

function knownTimes(refSteps, refTimes) {
  const steps = [];
  const times = [];
  for (let i = 0; i < refSteps.length; i++) {
    const t = refTimes[i];
    // Wall times never go back; a point that does (a resumed run) is skipped.
    if (t != null && Number.isFinite(t) && (times.length === 0 || t >= times[times.length - 1])) {
      steps.push(refSteps[i]);
      times.push(t);
    }
  }
  return {steps, times};
}

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
 * The integer step window `[start, end]` to fetch for an x-scale range.
 * @param {number} min
 * @param {number} max
 * @returns {{start: number, end: number}}
 */
export function stepWindow(min, max) {
  const start = Math.max(0, Math.floor(Math.min(min, max)));
  const end = Math.max(start, Math.ceil(Math.max(min, max)));
  return {start, end};
}

// ---------------------------------------------------------------- formatting

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
  if (source?.kind === 'callback' && source.callback) return source.callback;
  if (source?.kind === 'manual') return 'manual assign';
  return 'unknown';
}

/**
 * A sentence naming what caused a deviation, for a user who has not read
 * the docs.
 * @param {Source} source
 * @returns {string}
 */
export function explainSource(source) {
  if (source?.kind === 'callback' && source.callback) {
    if (source.callback === 'LearningRateScheduler') return 'LearningRateScheduler set the rate';
    if (source.callback === 'ReduceLROnPlateau') return 'ReduceLROnPlateau changed the rate';
    return `${source.callback} (a callback) changed the rate`;
  }
  if (source?.kind === 'manual') return 'the rate was assigned by hand';
  return 'the applied rate is not the configured schedule (set inside a compiled function, or the schedule was never applied)';
}

// ------------------------------------------------------------------ downloads

/**
 * A CSV document (RFC 4180); text cells that a spreadsheet would run as a
 * formula (`=`, `+`, `-`, `@` first) are prefixed with `'`.
 * @param {string[]} header
 * @param {unknown[][]} rows
 * @returns {string}
 */
export function toCsv(header, rows) {
  const cell = (value) => {
    if (value == null) return '';
    if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
    let text = String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n') + '\r\n';
}

/**
 * The lines of a chart as long-format rows: one per point.
 * @param {{run: string, series: string, steps: number[], values: (number|null)[],
 *   wall_times?: (number|null)[]}[]} lines
 * @returns {{header: string[], rows: unknown[][]}}
 */
export function linesToRows(lines) {
  const rows = [];
  for (const line of lines) {
    for (let i = 0; i < line.steps.length; i++) {
      rows.push([line.run, line.series, line.steps[i], line.values[i], line.wall_times?.[i] ?? null]);
    }
  }
  return {header: ['run', 'series', 'step', 'value', 'wall_time'], rows};
}

/**
 * A file name from parts, with only safe characters.
 * @param {string[]} parts
 * @param {string} extension without the dot
 * @returns {string}
 */
export function fileName(parts, extension) {
  const stem = parts.join('-').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '');
  return `${stem.slice(0, 120) || 'lr'}.${extension}`;
}

// ---------------------------------------------------------------- refreshing

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

/**
 * What tells whether a series grew between two fetches: its whole step range
 * (the same in a windowed and a full answer).
 * @param {{step_range?: [number, number]|null}} resp a `series` answer
 * @returns {string}
 */
export function rangeKey(resp) {
  return JSON.stringify(resp.step_range ?? null);
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
