// What the download buttons write: CSV text, long-format rows, file names,
// and the files offered.

import {SAMPLED_EVERY_STEP} from './constants.js';
import {scheduleNameFor} from './series_names.js';
import {download} from './views.js';

/**
 * A CSV document in the convention the server's `export` route writes too
 * (docs/HTTP_API.md): a header row, `\n` line ends, numbers as the shortest
 * decimal that reads back the same, a non-finite number as `nan`, `inf` or
 * `-inf`, a missing cell empty. Text cells are quoted as RFC 4180 says, and
 * those a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) get a
 * `'` prefix.
 * @param {string[]} header
 * @param {unknown[][]} rows
 * @returns {string}
 */
export function toCsv(header, rows) {
  const cell = (value) => {
    if (value == null) return '';
    if (typeof value === 'number') {
      if (Number.isFinite(value)) return String(value);
      return Number.isNaN(value) ? 'nan' : value > 0 ? 'inf' : '-inf';
    }
    let text = String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [header, ...rows].map((row) => row.map(cell).join(',')).join('\n') + '\n';
}

/**
 * The lines of a chart as long-format rows: one per point. A value the API
 * sent as `null` was not finite (JSON has no NaN): it is written `nan`.
 * @param {{run: string, series: string, steps: number[], values: (number|null)[],
 *   wall_times?: (number|null)[]}[]} lines
 * @returns {{header: string[], rows: unknown[][]}}
 */
export function linesToRows(lines) {
  const rows = [];
  for (const line of lines) {
    for (let i = 0; i < line.steps.length; i++) {
      rows.push([line.run, line.series, line.steps[i], line.values[i] ?? NaN, line.wall_times?.[i] ?? null]);
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

/**
 * One drawn line as the downloads write it; a configured curve under its
 * own series name (`schedule[/<optimizer>]`).
 * @param {string} run
 * @param {string} series
 * @param {{steps: number[], values: (number|null)[], wall_times?: (number|null)[], sampling?: string,
 *   downsampled?: boolean}} resp what the line was drawn from
 * @param {{schedule?: boolean}} [options]
 */
export function exportLine(run, series, resp, {schedule = false} = {}) {
  return {
    run,
    series: schedule ? scheduleNameFor(series) : series,
    sampling: resp.sampling || SAMPLED_EVERY_STEP,
    downsampled: Boolean(resp.downsampled),
    steps: resp.steps,
    values: resp.values,
    wall_times: resp.wall_times || null,
  };
}

/**
 * Offers lines as a CSV or JSON file named after `what` and the window.
 * @param {ReturnType<typeof exportLine>[]} lines
 * @param {'csv'|'json'} format
 * @param {string} what
 * @param {import('./x_axis.js').XAxis} axis
 */
export function offerLines(lines, format, what, axis) {
  const name = fileName(['lr', what, axis.window ? 'window' : 'all'], format);
  if (format === 'csv') {
    const {header, rows} = linesToRows(lines);
    download(new Blob([toCsv(header, rows)], {type: 'text/csv'}), name);
  } else {
    const body = {x_axis: axis.mode, window: axis.window, lines};
    download(new Blob([JSON.stringify(body)], {type: 'application/json'}), name);
  }
}
