// Unit tests of the LR tab's pure data shaping and formatting (src/model.js).
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import * as m from '../src/model.js';

describe('runs', () => {
  test('colours follow the sorted run names, whatever the input order', () => {
    const a = m.runColors(['b', 'a', 'c']);
    const b = m.runColors(['c', 'b', 'a']);
    assert.deepEqual([...a], [...b]);
    assert.equal(a.get('a'), m.PALETTE[0]);
    assert.equal(a.get('c'), m.PALETTE[2]);
  });

  test('colours wrap around the palette', () => {
    const names = Array.from({length: m.PALETTE.length + 1}, (_, i) => `run${String(i).padStart(2, '0')}`);
    const colors = m.runColors(names);
    assert.equal(colors.get(names[m.PALETTE.length]), m.PALETTE[0]);
  });

  test('a further optimizer of a run is drawn fainter', () => {
    assert.equal(m.lineColor('#1f77b4', 0), '#1f77b4');
    assert.equal(m.lineColor('#1f77b4', 1), '#1f77b4b3');
    assert.equal(m.lineColor('currentColor', 1), 'currentColor');
  });

  test('the filter is a case-insensitive regular expression', () => {
    const f = m.compileFilter('^COS|plat');
    assert.equal(f.error, null);
    assert.ok(f.test('cosine'));
    assert.ok(f.test('plateau'));
    assert.ok(!f.test('manual'));
  });

  test('an invalid regular expression filters as text and says why', () => {
    const f = m.compileFilter('<img src=x (');
    assert.ok(f.error);
    assert.ok(f.test('<IMG SRC=X (onerror)'));
    assert.ok(!f.test('cosine'));
  });

  test('an empty filter shows everything', () => {
    assert.ok(m.compileFilter('').test('anything'));
  });

  test('new runs of a live training are selected, deselected runs stay so', () => {
    const next = m.nextSelection(new Set(['a', 'b']), new Set(['a']), ['a', 'b', 'c']);
    assert.deepEqual([...next].sort(), ['a', 'c']);
  });

  test('runs that disappeared leave the selection', () => {
    assert.deepEqual([...m.nextSelection(new Set(['a', 'b']), new Set(['a', 'b']), ['b'])], ['b']);
  });
});

describe('series names', () => {
  test('optimizerOf reads the optimizer suffix', () => {
    assert.equal(m.optimizerOf('learning_rate', 'learning_rate'), '');
    assert.equal(m.optimizerOf('learning_rate/adam', 'learning_rate'), 'adam');
    assert.equal(m.optimizerOf('learning_rates', 'learning_rate'), null);
  });

  test('classifySeries sorts a run\'s series by what they are', () => {
    const found = m.classifySeries([
      'learning_rate/biases', 'learning_rate/kernels', 'epoch',
      'optimizer/biases/momentum', 'optimizer/kernels/beta_1', 'optimizer/kernels/beta_2',
      'layers/encoder/dense_1/grad_norm', 'layers/head/scale',
    ], ['biases', 'kernels']);
    assert.deepEqual(found.learningRates, [
      {name: 'learning_rate/biases', optimizer: 'biases'},
      {name: 'learning_rate/kernels', optimizer: 'kernels'},
    ]);
    assert.equal(found.epoch, true);
    assert.deepEqual(found.hyperparameters.map((h) => [h.optimizer, h.key]), [
      ['biases', 'momentum'], ['kernels', 'beta_1'], ['kernels', 'beta_2'],
    ]);
    assert.deepEqual(found.layers.map((l) => [l.layer, l.key]), [
      ['encoder/dense_1', 'grad_norm'], ['head', 'scale'],
    ]);
  });

  test('a hyperparameter name with a slash stays whole for one optimizer', () => {
    const found = m.classifySeries(['optimizer/clip/norm'], []);
    assert.deepEqual(found.hyperparameters, [{name: 'optimizer/clip/norm', optimizer: '', key: 'clip/norm'}]);
  });

  test('layerOf splits the layer path from the value name', () => {
    assert.deepEqual(m.layerOf('layers/a/b/c'), {layer: 'a/b', key: 'c'});
    assert.deepEqual(m.layerOf('layers/x'), {layer: '', key: 'x'});
  });

  test('chartGroups makes one chart per hyperparameter and groups layer values by layer', () => {
    const groups = m.chartGroups([
      {name: 'r1', series: ['learning_rate', 'optimizer/beta_1', 'layers/dense/scale', 'layers/dense/norm'], optimizers: []},
      {name: 'r2', series: ['learning_rate', 'optimizer/beta_1', 'optimizer/momentum', 'layers/conv/norm']},
    ]);
    assert.deepEqual(groups.hyperparameters.map((g) => [g.key, g.lines.map((l) => l.run)]), [
      ['beta_1', ['r1', 'r2']], ['momentum', ['r2']],
    ]);
    assert.deepEqual(groups.layers.map((g) => [g.layer, g.charts.map((c) => c.key)]), [
      ['conv', ['norm']], ['dense', ['norm', 'scale']],
    ]);
  });

  test('chartGroups labels the lines of several optimizers with the optimizer', () => {
    const groups = m.chartGroups([{name: 'r', series: ['optimizer/a/beta_1', 'optimizer/b/beta_1'], optimizers: ['a', 'b']}]);
    assert.deepEqual(groups.hyperparameters[0].lines.map((l) => l.label), ['r · a', 'r · b']);
  });
});

describe('looking values up', () => {
  test('lowerBound and nearestIndex', () => {
    const xs = [0, 10, 20, 30];
    assert.equal(m.lowerBound(xs, -1), 0);
    assert.equal(m.lowerBound(xs, 10), 1);
    assert.equal(m.lowerBound(xs, 11), 2);
    assert.equal(m.lowerBound(xs, 31), 4);
    assert.equal(m.nearestIndex(xs, 14), 1);
    assert.equal(m.nearestIndex(xs, 15), 1); // A tie goes to the earlier point.
    assert.equal(m.nearestIndex(xs, 16), 2);
    assert.equal(m.nearestIndex(xs, 99), 3);
    assert.equal(m.nearestIndex([], 1), -1);
  });

  test('a step-sampled series answers with its nearest point', () => {
    assert.deepEqual(m.valueAt([0, 10, 20], [1, 2, 3], 12), {step: 10, value: 2, exact: false});
    assert.deepEqual(m.valueAt([0, 10, 20], [1, 2, 3], 20), {step: 20, value: 3, exact: true});
  });

  test('a change-sampled series holds its value until the next point', () => {
    assert.deepEqual(m.valueAt([0, 50, 100], [0, 1, 2], 99, 'change'), {step: 99, value: 1, exact: true});
    assert.deepEqual(m.valueAt([0, 50, 100], [0, 1, 2], 100, 'change'), {step: 100, value: 2, exact: true});
    assert.equal(m.valueAt([10], [1], 5, 'change'), null);
    assert.equal(m.valueAt([], [], 5), null);
  });

  test('interpolateAt is exact at points, linear between, null outside', () => {
    assert.equal(m.interpolateAt([0, 10], [1, 2], 10), 2);
    assert.equal(m.interpolateAt([0, 10], [1, 2], 5), 1.5);
    assert.equal(m.interpolateAt([0, 10], [1, 2], 11), null);
    assert.equal(m.interpolateAt([0, 10, 20], [1, null, 3], 5), null);
  });

  test('epoch boundaries are the steps where the epoch changes', () => {
    assert.deepEqual(m.epochBoundaries([0, 50, 100, 150], [0, 1, 2, 3]), [50, 100, 150]);
    assert.deepEqual(m.epochBoundaries([0, 50, 60], [0, 1, 1]), [50]);
    assert.deepEqual(m.epochBoundaries([], []), []);
  });

  test('a held value is drawn to the run\'s last step', () => {
    assert.deepEqual(m.extendHold([0, 50], [0.9, 0.8], 199), {steps: [0, 50, 199], values: [0.9, 0.8, 0.8]});
    assert.deepEqual(m.extendHold([0, 50], [0.9, 0.8], 50), {steps: [0, 50], values: [0.9, 0.8]});
    assert.deepEqual(m.extendHold([], [], 10), {steps: [], values: []});
  });
});

describe('relative time', () => {
  const refSteps = [0, 100, 200];
  const refTimes = [1000, 1010, 1030];

  test('steps map to seconds since the first step', () => {
    assert.deepEqual(m.relativeX([0, 50, 150, 200, 300], null, refSteps, refTimes), [0, 5, 20, 30, null]);
  });

  test('a point\'s own wall time wins over the interpolated one', () => {
    assert.deepEqual(m.relativeX([0, 50, 100], [1000, null, 1012], refSteps, refTimes), [0, 5, 12]);
    assert.deepEqual(m.relativeX([0], null, [], []), [null]);
  });

  test('seconds map back to steps, clamped to the logged steps', () => {
    assert.equal(m.relativeTimeToStep(20, refSteps, refTimes), 150);
    assert.equal(m.relativeTimeToStep(-5, refSteps, refTimes), 0);
    assert.equal(m.relativeTimeToStep(99, refSteps, refTimes), 200);
    assert.equal(m.relativeTimeToStep(1, [], []), null);
  });

  test('missing and backward wall times are skipped', () => {
    assert.deepEqual(m.relativeX([100], null, [0, 50, 100], [null, 1000, 1010]), [10]);
    assert.deepEqual(m.relativeX([100], null, [0, 50, 100], [1000, 990, 1010]), [10]);
  });
});

describe('fetch windows', () => {
  test('max points: two per pixel, within the API\'s limits', () => {
    assert.equal(m.maxPointsFor(800), 1600);
    assert.equal(m.maxPointsFor(800, 2), 3200);
    assert.equal(m.maxPointsFor(800, 3), 3200);
    assert.equal(m.maxPointsFor(10), 200);
    assert.equal(m.maxPointsFor(100000), 10000);
  });

  test('a zoom window becomes whole steps, never negative', () => {
    assert.deepEqual(m.stepWindow(10.4, 99.2), {start: 10, end: 100});
    assert.deepEqual(m.stepWindow(-3, 5), {start: 0, end: 5});
    assert.deepEqual(m.stepWindow(9, 2), {start: 2, end: 9});
  });

});

describe('formatting', () => {
  test('values: six significant digits, float32 noise gone', () => {
    assert.equal(m.formatValue(0.10000000149011612), '0.1');
    assert.equal(m.formatValue(0.12666666507720947), '0.126667');
    assert.equal(m.formatValue(0.05000000074505806), '0.05');
    assert.equal(m.formatValue(1e-7), '1e-7');
    assert.equal(m.formatValue(1.2345678e-5), '1.23457e-5');
    assert.equal(m.formatValue(2e6), '2e+6');
    assert.equal(m.formatValue(0), '0');
    assert.equal(m.formatValue(-0.5), '-0.5');
  });

  test('values: missing and non-finite', () => {
    assert.equal(m.formatValue(null), '—');
    assert.equal(m.formatValue(undefined), '—');
    assert.equal(m.formatValue(NaN), 'NaN');
    assert.equal(m.formatValue(Infinity), '∞');
    assert.equal(m.formatValue(-Infinity), '−∞');
  });

  test('ratio of applied to expected', () => {
    assert.equal(m.formatRatio(0.05, 0.1), '×0.5');
    assert.equal(m.formatRatio(0.1, 0.1), '×1');
    assert.equal(m.formatRatio(1, 3), '×0.3333');
    assert.equal(m.formatRatio(0.1, 0), '—');
    assert.equal(m.formatRatio(null, 0.1), '—');
    assert.equal(m.formatRatio(0.1, NaN), '—');
  });

  test('steps', () => {
    assert.equal(m.formatStep(1234567), '1,234,567');
    assert.equal(m.formatStep(0), '0');
    assert.equal(m.formatStep(null), '—');
    assert.equal(m.formatAxisStep(950), '950');
    assert.equal(m.formatAxisStep(2500), '2.5k');
    assert.equal(m.formatAxisStep(12000), '12k');
    assert.equal(m.formatAxisStep(1500000), '1.5M');
  });

  test('durations', () => {
    assert.equal(m.formatDuration(0), '0 s');
    assert.equal(m.formatDuration(4.56), '4.6 s');
    assert.equal(m.formatDuration(42.04), '42 s');
    assert.equal(m.formatDuration(200), '3 min 20 s');
    assert.equal(m.formatDuration(7500), '2 h 05 min');
    assert.equal(m.formatDuration(97200), '1 d 3 h');
    assert.equal(m.formatDuration(-30), '−30 s');
    assert.equal(m.formatDuration(null), '—');
  });

  test('schedule configuration rows: nested configs flattened, lists joined', () => {
    assert.deepEqual(m.configRows({
      initial_learning_rate: 0.1,
      boundaries: [100, 200],
      warmup: null,
      staircase: false,
      inner: {class_name: 'CosineDecay', config: {alpha: 0}},
      name: '<b>x</b>',
    }), [
      ['initial_learning_rate', '0.1'],
      ['boundaries', '[100, 200]'],
      ['warmup', 'None'],
      ['staircase', 'False'],
      ['inner.class_name', 'CosineDecay'],
      ['inner.config.alpha', '0'],
      ['name', '<b>x</b>'],
    ]);
    assert.deepEqual(m.configRows({}), []);
    assert.deepEqual(m.configRows(null), []);
    assert.deepEqual(m.configRows({empty: {}}), [['empty', '{}']]);
  });
});

describe('deviations', () => {
  test('rows are ordered by run and step, with their ratio', () => {
    const rows = m.deviationRows(new Map([
      ['b', [{series: 'learning_rate', step: 5, end_step: 9, steps: 5, applied: 0.05, expected: 0.1, source: 'manual assign'}]],
      ['a', [
        {series: 'learning_rate', step: 150, end_step: 199, steps: 50, applied: 0.025, expected: 0.1, source: {kind: 'callback', callback: 'ReduceLROnPlateau'}},
        {series: 'learning_rate', step: 100, applied: 0.05, expected: 0.1, source: {kind: 'callback', callback: 'ReduceLROnPlateau'}},
      ]],
    ]));
    assert.deepEqual(rows.map((r) => [r.run, r.step, r.endStep, r.ratio]), [
      ['a', 100, 100, '×0.5'], ['a', 150, 199, '×0.25'], ['b', 5, 9, '×0.5'],
    ]);
  });

  test('every source is named and explained from its fields', () => {
    const plateau = {kind: 'callback', callback: 'ReduceLROnPlateau'};
    assert.equal(m.sourceLabel(plateau), 'ReduceLROnPlateau');
    assert.match(m.explainSource(plateau), /ReduceLROnPlateau changed/);
    assert.match(m.explainSource({kind: 'callback', callback: 'LearningRateScheduler'}), /set the rate/);
    assert.equal(m.sourceLabel({kind: 'manual', callback: null}), 'manual assign');
    assert.match(m.explainSource({kind: 'manual'}), /by hand/);
    assert.equal(m.sourceLabel({kind: 'unknown', callback: null}), 'unknown');
    assert.match(m.explainSource({kind: 'unknown'}), /never applied/);
    // A callback's class is a name, never parsed: spaces and markup stay as they are.
    const odd = {kind: 'callback', callback: 'callback <b>Halve</b>'};
    assert.equal(m.sourceLabel(odd), 'callback <b>Halve</b>');
    assert.equal(m.explainSource(odd), 'callback <b>Halve</b> (a callback) changed the rate');
    // A kind this tab does not know (a newer server) reads as unknown.
    assert.equal(m.sourceLabel({kind: 'scheduled-by-jax'}), 'unknown');
  });

  test('a problem says which steps it concerns', () => {
    assert.equal(m.describeProblem({message: 'checksum mismatch', step_range: [8192, 16383]}),
      'steps 8,192–16,383: checksum mismatch');
    assert.equal(m.describeProblem({message: 'one', step_range: [5, 5]}), 'step 5: one');
    assert.equal(m.describeProblem({message: 'no steps', step_range: null}), 'no steps');
    assert.equal(m.describeProblem({message: 'bad', step_range: [1, 2], where: 'run a, epoch'}),
      'run a, epoch, steps 1–2: bad');
  });
});

describe('downloads', () => {
  test('CSV quotes what needs quoting and defuses spreadsheet formulas', () => {
    const csv = m.toCsv(['run', 'value'], [
      ['a,b', 1.5], ['say "hi"', null], ['=HYPERLINK("x")', -0.5], ['-x', NaN], ['line\nbreak', 0],
    ]);
    assert.equal(csv, [
      'run,value',
      '"a,b",1.5',
      '"say ""hi""",',
      '"\'=HYPERLINK(""x"")",-0.5',
      "'-x,",
      '"line\nbreak",0',
      '',
    ].join('\r\n'));
  });

  test('lines become one row per point', () => {
    const {header, rows} = m.linesToRows([
      {run: 'r', series: 'learning_rate', steps: [0, 1], values: [0.1, 0.2], wall_times: [10, null]},
      {run: 'r', series: 'schedule', steps: [0], values: [0.1]},
    ]);
    assert.deepEqual(header, ['run', 'series', 'step', 'value', 'wall_time']);
    assert.deepEqual(rows, [
      ['r', 'learning_rate', 0, 0.1, 10], ['r', 'learning_rate', 1, 0.2, null], ['r', 'schedule', 0, 0.1, null],
    ]);
  });

  test('file names keep only safe characters', () => {
    assert.equal(m.fileName(['lr', '<img src=x onerror=alert(1)>', 'learning_rate/adam'], 'csv'),
        'lr-_img_src_x_onerror_alert_1_-learning_rate_adam.csv');
    assert.equal(m.fileName(['../..'], 'png'), 'lr.png');
    assert.equal(m.fileName([''], 'json'), 'lr.json');
  });
});

describe('y range of a window', () => {
  test('yExtent spans every line inside the window and the points next to it', () => {
    const lines = [[[0, 10, 20, 30], [5, 1, 2, 9]], [[15, 25], [3, null]]];
    assert.deepEqual(m.yExtent(lines, null), [1, 9]);
    // x 12..18: points 10 and 20 of the first line border it; 15 of the second is in it.
    assert.deepEqual(m.yExtent(lines, {min: 12, max: 18}), [1, 3]);
    assert.equal(m.yExtent([[[0], [null]]], null), null);
    assert.equal(m.yExtent([], null), null);
  });
});

describe('refreshing', () => {
  test('a series grew when its whole step range changed, whatever the window', () => {
    const before = m.rangeKey({step_range: [0, 99], steps: [40, 50]});
    assert.equal(m.rangeKey({step_range: [0, 99], steps: [0, 99]}), before);
    assert.notEqual(m.rangeKey({step_range: [0, 199]}), before);
    assert.equal(m.rangeKey({}), 'null');
  });
});
