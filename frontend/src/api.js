// The plugin's HTTP API (docs/HTTP_API.md), with URLs relative to this
// module: it is served from the plugin's route prefix (/data/plugin/lr/), so
// the routes resolve beside it under any --path_prefix.

import {unpackArrays} from './packed_arrays.js';

const BASE = new URL('./', import.meta.url);

/** An HTTP error with the message of the API's JSON body. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   */
  constructor(message, status) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * The URL of a route with its query; parameters that are null or undefined
 * are left out, and a list is repeated (`run=a&run=b`).
 * @param {string} route e.g. `series`
 * @param {Record<string, string|number|null|undefined|(string|number)[]>} [params]
 * @param {URL|string} [base] where the routes live (this module's directory)
 * @returns {URL}
 */
export function routeUrl(route, params = {}, base = BASE) {
  const url = new URL(route, base);
  // Built apart and set once: each append to url.searchParams rewrites the whole URL.
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) query.append(key, String(item));
  }
  url.search = query.toString();
  return url;
}

// Servers and proxies refuse very long URLs (Python's http.server: 64 KiB a
// line): a batch of many long run names is split under this many characters.
const MAX_QUERY_LENGTH = 8000;
// A run's `window` and separators, beside its encoded name.
const PER_RUN_LENGTH = 48;

/**
 * Splits a batch into consecutive groups whose queries stay under `maxLength`
 * characters (a run longer than that alone is a group of its own).
 * @template {{run: string}} T
 * @param {T[]} requests
 * @param {number} [maxLength]
 * @returns {T[][]}
 */
export function batchGroups(requests, maxLength = MAX_QUERY_LENGTH) {
  const groups = [];
  let group = [];
  let length = 0;
  for (const request of requests) {
    const size = encodeURIComponent(request.run).length + PER_RUN_LENGTH;
    if (group.length > 0 && length + size > maxLength) {
      groups.push(group);
      group = [];
      length = 0;
    }
    group.push(request);
    length += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * `batch`: several runs' curves (each in its own step window) and marks, in
 * as few requests as the URL length allows (one, for all but huge selections),
 * with packed arrays (unpacked here: the answers hold plain lists).
 * @param {{run: string, start?: number, end?: number}[]} requests
 * @param {{maxPoints?: number|null, include: string[]}} options
 * @param {AbortSignal} [signal]
 * @returns {Promise<object[]>} one answer per request, in order (`error` where a run failed)
 */
export async function fetchBatch(requests, {maxPoints, include}, signal) {
  const answers = await Promise.all(batchGroups(requests).map((part) => getJson('batch', {
    run: part.map((r) => r.run),
    window: part.map((r) => (r.start === undefined && r.end === undefined ? '' : `${r.start ?? ''}:${r.end ?? ''}`)),
    max_points: maxPoints,
    include: include.join(','),
    arrays: 'packed',
  }, signal)));
  return answers.flatMap((body) => unpackArrays(body.runs));
}

async function getJson(route, params, signal) {
  const response = await fetch(routeUrl(route, params), {signal, headers: {Accept: 'application/json'}});
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: a proxy's error page; the status says enough.
  }
  if (!response.ok) {
    throw new ApiError(body?.error || `${route}: HTTP ${response.status}`, response.status);
  }
  return body;
}

/**
 * `runs`: every run with this plugin's data.
 * @param {AbortSignal} [signal]
 * @returns {Promise<{runs: {name: string, series: string[], schedule: boolean, optimizers?: string[],
 *   range_test?: boolean}[], problems?: unknown[]}>}
 */
export function fetchRuns(signal) {
  return getJson('runs', {}, signal);
}

/**
 * `series`: the points of one series, in a step window, maybe downsampled.
 * @param {string} run
 * @param {string} name
 * @param {{start?: number|null, end?: number|null, maxPoints?: number|null}} [window]
 * @param {AbortSignal} [signal]
 * @returns {Promise<{run: string, name: string, sampling?: string, steps: number[],
 *   values: (number|null)[], wall_times: (number|null)[], total: number,
 *   downsampled: boolean, step_range?: [number, number]|null}>}
 */
export function fetchSeries(run, name, {start, end, maxPoints} = {}, signal) {
  return getJson('series', {run, name, start, end, max_points: maxPoints}, signal);
}

/**
 * `update_ratios`: every layer's update ratios binned into the same step
 * columns (the heat map), layers in model order; packed, unpacked here.
 * @param {string} run
 * @param {{start?: number|null, end?: number|null, columns: number}} window
 * @param {AbortSignal} [signal]
 * @returns {Promise<{run: string, window: [number, number]|null, steps: number[], width: number,
 *   step_range: [number, number]|null, layers: {name: string, layer: string,
 *   low: (number|null)[], high: (number|null)[], nonfinite: number[]}[], problems: unknown[]}>}
 */
export async function fetchUpdateRatios(run, {start, end, columns}, signal) {
  const body = await getJson('update_ratios', {run, start, end, columns, arrays: 'packed'}, signal);
  return unpackArrays(body);
}

/**
 * `range_test`: a run's learning-rate range test (its latest readable one).
 * @param {string} run
 * @param {AbortSignal} [signal]
 * @returns {Promise<{run: string, learning_rates: number[], losses: (number|null)[],
 *   smoothed_losses: (number|null)[], suggestions: {rule: string, learning_rate: number|null,
 *   reason: string|null}[], divergence: number|null, stopped: string|null,
 *   settings: Record<string, any>, optimizer: string|null, wall_time: number|null,
 *   problems: unknown[]}>}
 */
export function fetchRangeTest(run, signal) {
  return getJson('range_test', {run}, signal);
}

/**
 * The `export` route's URL for one series (a download of every point).
 * @param {string} run
 * @param {string} name
 * @param {'csv'|'json'} format
 * @returns {string}
 */
export function exportUrl(run, name, format) {
  return routeUrl('export', {run, name, format}).href;
}
