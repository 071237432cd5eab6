// DOM building for the LR tab. Every run, series, layer and configuration
// string goes into the page through textContent or an attribute value,
// never through innerHTML: a run named `<img onerror=...>` stays text.

import {LEARNING_RATE, SOURCE_UNKNOWN} from './constants.js';
import {explainSource, sourceLabel} from './deviation_rows.js';
import {configRows, describeProblem, formatStep, formatValue} from './format.js';
import {optimizerOf} from './series_names.js';

/**
 * Creates an element.
 * @param {string} tag
 * @param {{className?: string, text?: string, title?: string, attrs?: Record<string, string>}} [props]
 * @param {(Node|null|undefined)[]} [children]
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  if (props.title !== undefined) node.title = props.title;
  for (const [key, value] of Object.entries(props.attrs || {})) node.setAttribute(key, value);
  for (const child of children) if (child) node.appendChild(child);
  return node;
}

/**
 * A coloured square for a run.
 * @param {string} color
 * @returns {HTMLElement}
 */
export function swatch(color) {
  const node = el('span', {className: 'lr-swatch', attrs: {'aria-hidden': 'true'}});
  node.style.background = color;
  return node;
}

/**
 * A small button.
 * @param {string} label
 * @param {() => void} onClick
 * @param {{title?: string, className?: string, pressed?: boolean}} [props]
 * @returns {HTMLButtonElement}
 */
export function button(label, onClick, props = {}) {
  const node = /** @type {HTMLButtonElement} */ (
    el('button', {className: props.className || 'lr-button', text: label, title: props.title}));
  node.type = 'button';
  if (props.pressed !== undefined) node.setAttribute('aria-pressed', String(props.pressed));
  node.addEventListener('click', onClick);
  return node;
}

/**
 * A choice among runs, for a section that shows one run at a time (names as text).
 * @param {string[]} names
 * @param {string} selected
 * @param {(name: string) => void} onChange
 * @returns {HTMLElement}
 */
export function runPicker(names, selected, onChange) {
  const select = /** @type {HTMLSelectElement} */ (el('select', {className: 'lr-select'}));
  for (const name of names) {
    const option = /** @type {HTMLOptionElement} */ (el('option', {text: name}));
    option.value = name;
    option.selected = name === selected;
    select.appendChild(option);
  }
  select.addEventListener('change', () => onChange(select.value));
  return el('label', {className: 'lr-run-picker'}, [el('span', {text: 'Run '}), select]);
}

/**
 * The page's skeleton.
 * @param {HTMLElement} root
 * @returns {Record<string, HTMLElement>} the parts the app fills
 */
export function layout(root) {
  const parts = {
    sidebar: el('aside', {className: 'lr-sidebar', attrs: {'aria-label': 'Runs'}}),
    toolbar: el('div', {className: 'lr-toolbar', attrs: {role: 'toolbar'}}),
    problems: el('div', {className: 'lr-problems'}),
    empty: el('div', {className: 'lr-empty'}),
    main: el('section', {className: 'lr-main'}),
    schedules: el('section', {className: 'lr-schedules'}),
    rangeTest: el('section', {className: 'lr-range-test', attrs: {'aria-label': 'Range test'}}),
    updateRatios: el('section', {className: 'lr-update-ratios', attrs: {'aria-label': 'Update ratio'}}),
    hyperparameters: el('section', {className: 'lr-small-charts'}),
    layers: el('section', {className: 'lr-layers'}),
  };
  parts.empty.hidden = true;
  parts.rangeTest.hidden = true;
  parts.updateRatios.hidden = true;
  const content = el('main', {className: 'lr-content'}, [
    parts.toolbar, parts.problems, parts.empty, parts.main, parts.rangeTest, parts.schedules,
    parts.updateRatios, parts.hyperparameters, parts.layers,
  ]);
  root.replaceChildren(parts.sidebar, content);
  return parts;
}

/**
 * The run list: filter, select all / none, one checkbox per run.
 * @param {HTMLElement} container
 * @param {{
 *   runs: {name: string}[], colors: Map<string, string>, selected: Set<string>,
 *   filter: string, filterError: string|null, visible: (name: string) => boolean,
 *   deviations: Map<string, number>,
 * }} state
 * @param {{onFilter: (text: string) => void, onToggle: (name: string, on: boolean) => void,
 *   onAll: (on: boolean) => void}} handlers
 */
export function renderRunList(container, state, handlers) {
  let input = container.querySelector('input.lr-filter');
  if (!input) {
    // Built once, so typing in the filter keeps its focus across re-renders.
    input = el('input', {
      className: 'lr-filter',
      attrs: {type: 'search', placeholder: 'Filter runs (regex)', 'aria-label': 'Filter runs (regular expression)', spellcheck: 'false'},
    });
    input.addEventListener('input', () => handlers.onFilter(input.value));
    const all = button('All', () => handlers.onAll(true), {title: 'Select every run the filter shows', className: 'lr-button lr-select-all'});
    const none = button('None', () => handlers.onAll(false), {title: 'Deselect every run the filter shows', className: 'lr-button lr-select-none'});
    container.replaceChildren(
        el('h2', {className: 'lr-heading', text: 'Runs'}),
        input,
        el('div', {className: 'lr-filter-error', attrs: {role: 'status'}}),
        el('div', {className: 'lr-run-buttons'}, [all, none]),
        el('ul', {className: 'lr-run-list'}),
        el('div', {className: 'lr-run-count'}));
  }
  if (input.value !== state.filter) input.value = state.filter;
  input.classList.toggle('lr-invalid', Boolean(state.filterError));
  container.querySelector('.lr-filter-error').textContent =
    state.filterError ? `Not a regular expression (${state.filterError}); matching as text.` : '';
  const list = container.querySelector('.lr-run-list');
  const items = [];
  let shown = 0;
  for (const run of state.runs) {
    if (!state.visible(run.name)) continue;
    shown++;
    const box = /** @type {HTMLInputElement} */ (el('input', {attrs: {type: 'checkbox'}}));
    box.checked = state.selected.has(run.name);
    box.addEventListener('change', () => handlers.onToggle(run.name, box.checked));
    const count = state.deviations.get(run.name) || 0;
    const label = el('label', {className: 'lr-run', title: run.name}, [
      box,
      swatch(state.colors.get(run.name)),
      el('span', {className: 'lr-run-name', text: run.name}),
      count ? el('span', {className: 'lr-badge', text: String(count), title: `${count} deviation${count === 1 ? '' : 's'} from the schedule`}) : null,
    ]);
    items.push(el('li', {}, [label]));
  }
  list.replaceChildren(...items);
  container.querySelector('.lr-run-count').textContent =
    `${state.selected.size} of ${state.runs.length} selected` + (shown < state.runs.length ? `, ${shown} shown` : '');
}

/**
 * What a new user sees: the three lines to add to a training script.
 * @param {HTMLElement} container
 */
export function renderEmptyState(container) {
  const code = [
    'import tb_lr_plugin as tblr',
    'logger = tblr.LearningRateLogger("logs")',
    'model.fit(x, y, callbacks=[logger])',
  ].join('\n');
  container.replaceChildren(
      el('h2', {text: 'No learning-rate data yet'}),
      el('p', {text: 'Add these three lines to your training script:'}),
      el('pre', {className: 'lr-code'}, [el('code', {text: code})]),
      el('p', {}, [
        document.createTextNode('Then run '),
        el('code', {text: 'tensorboard --logdir logs'}),
        document.createTextNode('. This tab picks the data up by itself while training runs. In a custom training loop, use '),
        el('code', {text: 'tblr.LearningRateWriter(log_dir, optimizer)'}),
        document.createTextNode(' and call '),
        el('code', {text: '.log()'}),
        document.createTextNode(' after each apply_gradients.'),
      ]));
}

/**
 * Notes from the server about records it could not read.
 * @param {HTMLElement} container
 * @param {{message: string, step_range?: number[]|null}[]} problems
 */
export function renderProblems(container, problems) {
  if (!problems || problems.length === 0) {
    container.replaceChildren();
    return;
  }
  const list = el('ul', {}, problems.slice(0, 20).map((p) => el('li', {text: describeProblem(p)})));
  container.replaceChildren(el('details', {className: 'lr-warning'}, [
    el('summary', {text: `${problems.length} record${problems.length === 1 ? '' : 's'} could not be read`}),
    list,
  ]));
}

/**
 * A table of values, one row per line (a run, or a run's optimizer), one
 * column per name: hyperparameters that never changed.
 * @param {Map<string, Map<string, number|null>>} columns name -> row label -> value
 * @param {string} caption
 * @returns {HTMLElement}
 */
export function constantsTable(columns, caption) {
  const names = [...columns.keys()].sort();
  const rows = [...new Set([...columns.values()].flatMap((values) => [...values.keys()]))].sort();
  const table = el('table', {className: 'lr-table lr-constants'});
  table.createCaption().textContent = caption;
  const head = table.createTHead().insertRow();
  head.appendChild(el('th', {text: 'run', attrs: {scope: 'col'}}));
  for (const name of names) head.appendChild(el('th', {text: name, attrs: {scope: 'col'}}));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    tr.appendChild(el('th', {text: row, attrs: {scope: 'row'}}));
    for (const name of names) {
      const values = columns.get(name);
      tr.insertCell().textContent = values.has(row) ? formatValue(values.get(row)) : '';
    }
  }
  return el('div', {className: 'lr-card lr-table-scroll'}, [table]);
}

/**
 * A card holding one chart: a title, actions, the chart, a legend.
 * @param {string} title
 * @param {HTMLElement[]} actions buttons in the card's header
 * @param {{className?: string, subtitle?: string}} [props]
 * @returns {{card: HTMLElement, plot: HTMLElement, legend: HTMLElement, status: HTMLElement,
 *   problems: HTMLElement}}
 */
export function chartCard(title, actions, props = {}) {
  const plot = el('div', {className: 'lr-plot'});
  const legend = el('div', {className: 'lr-legend'});
  const status = el('div', {className: 'lr-status', attrs: {role: 'status'}});
  // The server's problems with the series drawn here (lost steps, damaged records).
  const problems = el('div', {className: 'lr-problems lr-card-problems'});
  const card = el('div', {className: `lr-card ${props.className || ''}`.trim()}, [
    el('div', {className: 'lr-card-head'}, [
      el('h3', {className: 'lr-card-title', text: title}),
      props.subtitle ? el('span', {className: 'lr-card-subtitle', text: props.subtitle}) : null,
      el('div', {className: 'lr-actions'}, actions),
    ]),
    status,
    plot,
    legend,
    problems,
  ]);
  return {card, plot, legend, status, problems};
}

/**
 * The legend under a chart.
 * @param {HTMLElement} container
 * @param {{color: string, label: string, dashed?: boolean}[]} items
 * @param {string|null} [note] a line after the items (what the x axis means)
 */
export function renderLegend(container, items, note = null) {
  container.replaceChildren(...items.map((item) => {
    const line = el('span', {className: item.dashed ? 'lr-key lr-key-dashed' : 'lr-key'});
    line.style.borderColor = item.color;
    return el('span', {className: 'lr-legend-item'}, [line, el('span', {text: item.label})]);
  }), ...(note ? [el('span', {className: 'lr-legend-note lr-muted', text: note})] : []));
}

/**
 * The deviation list beside the main chart.
 * @param {HTMLElement} container
 * @param {{run: string, series: string, step: number, endStep: number, steps: number,
 *   applied: number|null, expected: number|null, source: import('./deviation_rows.js').Source,
 *   ratio: string}[]} rows
 * @param {{colors: Map<string, string>, compared: number, truncated: string[],
 *   onSelect: (row: object) => void}} props
 */
export function renderDeviations(container, rows, props) {
  const heading = el('h3', {className: 'lr-card-title', text: 'Deviations'});
  let summary;
  if (props.compared === 0) {
    summary = 'No selected run has a schedule to compare with.';
  } else if (rows.length === 0) {
    summary = `Every applied rate matched its schedule (${props.compared} run${props.compared === 1 ? '' : 's'} compared).`;
  } else {
    const runs = new Set(rows.map((r) => r.run)).size;
    summary = `${rows.length} deviation${rows.length === 1 ? '' : 's'} in ${runs} run${runs === 1 ? '' : 's'}. Click one to zoom to it.`;
  }
  const children = [heading, el('p', {className: 'lr-muted', text: summary})];
  if (props.truncated.length > 0) {
    children.push(el('p', {className: 'lr-muted', text: `Only the first events are listed for: ${props.truncated.join(', ')}.`}));
  }
  if (rows.length > 0) {
    const table = el('table', {className: 'lr-table lr-deviation-table'});
    const head = table.createTHead().insertRow();
    for (const text of ['Run', 'Step', 'Applied', 'Expected', 'Source']) {
      head.appendChild(el('th', {text, attrs: {scope: 'col'}}));
    }
    const body = table.createTBody();
    for (const row of rows.slice(0, 500)) {
      const tr = body.insertRow();
      tr.className = 'lr-deviation';
      tr.tabIndex = 0;
      tr.title = `${explainSource(row.source)}; the applied rate was ${row.ratio} the schedule's, ` +
        `for ${formatStep(row.steps)} step${row.steps === 1 ? '' : 's'}`;
      const runCell = tr.insertCell();
      runCell.title = row.run;
      runCell.append(swatch(props.colors.get(row.run)), el('span', {className: 'lr-run-name', text: row.run}));
      const optimizer = optimizerOf(row.series, LEARNING_RATE);
      if (optimizer) runCell.append(el('span', {className: 'lr-muted', text: ` ${optimizer}`}));
      tr.insertCell().textContent = row.endStep > row.step ? `${formatStep(row.step)}–${formatStep(row.endStep)}` : formatStep(row.step);
      const applied = tr.insertCell();
      applied.append(formatValue(row.applied), el('span', {className: 'lr-ratio', text: ` ${row.ratio}`}));
      tr.insertCell().textContent = formatValue(row.expected);
      tr.insertCell().textContent = sourceLabel(row.source);
      tr.dataset.step = String(row.step);
      const choose = () => props.onSelect(row);
      tr.addEventListener('click', choose);
      tr.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          choose();
        }
      });
    }
    children.push(el('div', {className: 'lr-table-scroll'}, [table]));
    if (rows.length > 500) children.push(el('p', {className: 'lr-muted', text: `The first 500 of ${rows.length} are listed.`}));
    if (rows.some((row) => row.source?.kind === SOURCE_UNKNOWN)) {
      children.push(el('p', {className: 'lr-muted lr-unknown-note', text: `unknown: ${explainSource({kind: SOURCE_UNKNOWN})}.`}));
    }
  }
  container.replaceChildren(...children);
}

/**
 * One panel per run with the schedule's kind and configuration as a table.
 * @param {HTMLElement} container
 * @param {{run: string, color: string, schedules: {optimizer: string|null, kind: string|null,
 *   source: string|null, total_steps: number|null, config: Record<string, unknown>}[],
 *   exports: {label: string, href: string}[]}[]} panels
 */
export function renderSchedules(container, panels) {
  if (panels.length === 0) {
    container.replaceChildren();
    return;
  }
  const cards = panels.map((panel) => {
    const head = el('div', {className: 'lr-card-head'}, [
      swatch(panel.color),
      el('h3', {className: 'lr-card-title lr-run-name', text: panel.run}),
    ]);
    const body = [head];
    if (panel.schedules.length === 0) {
      body.push(el('p', {className: 'lr-muted', text: 'No schedule recorded for this run.'}));
    }
    for (const schedule of panel.schedules) {
      const table = el('table', {className: 'lr-table lr-config'});
      const tbody = table.createTBody();
      const add = (key, value, className) => {
        const tr = tbody.insertRow();
        if (className) tr.className = className;
        tr.appendChild(el('th', {text: key, attrs: {scope: 'row'}}));
        tr.insertCell().textContent = value;
      };
      if (schedule.optimizer) add('optimizer', schedule.optimizer, 'lr-config-meta');
      add('kind', schedule.kind || 'unknown', 'lr-config-meta lr-schedule-kind');
      if (schedule.source) add('source', schedule.source, 'lr-config-meta');
      add('planned steps', schedule.total_steps == null ? 'unknown' : formatStep(schedule.total_steps), 'lr-config-meta');
      for (const [key, value] of configRows(schedule.config)) add(key, value);
      body.push(table);
    }
    if (panel.exports.length > 0) {
      body.push(el('div', {className: 'lr-exports'}, [
        el('span', {className: 'lr-muted', text: 'Every point: '}),
        ...panel.exports.map((item) => el('a', {text: item.label, attrs: {href: item.href, download: ''}})),
      ]));
    }
    return el('div', {className: 'lr-card lr-schedule-card'}, body);
  });
  // Collapsible: with many runs the panels are long, and the charts below matter too.
  const details = el('details', {className: 'lr-section'}, [
    el('summary', {className: 'lr-heading', text: `Schedules (${panels.length} run${panels.length === 1 ? '' : 's'})`}),
    el('div', {className: 'lr-grid lr-schedule-grid'}, cards),
  ]);
  details.open = container.querySelector('details')?.open ?? true;
  container.replaceChildren(details);
}

/**
 * Offers a file to the user.
 * @param {Blob} blob
 * @param {string} name
 */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', {attrs: {href: url, download: name}});
  link.hidden = true;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
