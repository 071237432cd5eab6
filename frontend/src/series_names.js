// What a series name says: its kind, its optimizer, its layer; which small
// charts the selected runs' series make.

import {
  EPOCH, GRADIENT_NORM, LAYERS_PREFIX, LEARNING_RATE, OPTIMIZER_PREFIX, SCHEDULE, SKIPPED_UPDATES,
  UPDATE_RATIO_PREFIX,
} from './constants.js';

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
 * The configured curve's series name for a learning-rate series: `schedule`,
 * or `schedule/<optimizer>` (the writer's `event_format.name_for`).
 * @param {string} learningRate e.g. `learning_rate/adam`
 * @returns {string}
 */
export function scheduleNameFor(learningRate) {
  const optimizer = optimizerOf(learningRate, LEARNING_RATE);
  return optimizer ? `${SCHEDULE}/${optimizer}` : SCHEDULE;
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
 * The layers a run has update ratios of (in the `runs` order: model order),
 * its gradient norms (`gradient_norm[/<optimizer>]`) and its counts of
 * updates skipped on overflow (`skipped_updates[/<optimizer>]`).
 * @param {{series: string[]}} run
 * @returns {{layers: string[], gradientNorms: string[], skippedUpdates: string[]}}
 */
export function measuredSeries(run) {
  const names = run.series || [];
  return {
    layers: names.filter((n) => n.startsWith(UPDATE_RATIO_PREFIX)).map((n) => n.slice(UPDATE_RATIO_PREFIX.length)),
    gradientNorms: names.filter((n) => optimizerOf(n, GRADIENT_NORM) !== null),
    skippedUpdates: names.filter((n) => optimizerOf(n, SKIPPED_UPDATES) !== null),
  };
}

/**
 * Where updates were skipped, from a `skipped_updates` series (the count
 * skipped before each step, where it changes): the steps they came before
 * and how many.
 * @param {{steps: number[], values: (number|null)[]}} series
 * @returns {{step: number, skipped: number}[]}
 */
export function skipsBefore({steps, values}) {
  const found = [];
  let total = 0;
  steps.forEach((step, i) => {
    const count = values[i];
    if (count != null && count > total) found.push({step, skipped: count - total});
    if (count != null) total = count;
  });
  return found;
}
