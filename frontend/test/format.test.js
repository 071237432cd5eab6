// Unit tests of src/format.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {configRows, formatAxisStep, formatDuration, formatRatio, formatStep, formatValue} from '../src/format.js';

describe('formatting', () => {
  test('values: six significant digits, float32 noise gone', () => {
    assert.equal(formatValue(0.10000000149011612), '0.1');
    assert.equal(formatValue(0.12666666507720947), '0.126667');
    assert.equal(formatValue(0.05000000074505806), '0.05');
    assert.equal(formatValue(1e-7), '1e-7');
    assert.equal(formatValue(1.2345678e-5), '1.23457e-5');
    assert.equal(formatValue(2e6), '2e+6');
    assert.equal(formatValue(0), '0');
    assert.equal(formatValue(-0.5), '-0.5');
  });

  test('values: missing and non-finite', () => {
    assert.equal(formatValue(null), '—');
    assert.equal(formatValue(undefined), '—');
    assert.equal(formatValue(NaN), 'NaN');
    assert.equal(formatValue(Infinity), '∞');
    assert.equal(formatValue(-Infinity), '−∞');
  });

  test('ratio of applied to expected', () => {
    assert.equal(formatRatio(0.05, 0.1), '×0.5');
    assert.equal(formatRatio(0.1, 0.1), '×1');
    assert.equal(formatRatio(1, 3), '×0.3333');
    assert.equal(formatRatio(0.1, 0), '—');
    assert.equal(formatRatio(null, 0.1), '—');
    assert.equal(formatRatio(0.1, NaN), '—');
  });

  test('steps', () => {
    assert.equal(formatStep(1234567), '1,234,567');
    assert.equal(formatStep(0), '0');
    assert.equal(formatStep(null), '—');
    assert.equal(formatAxisStep(950), '950');
    assert.equal(formatAxisStep(2500), '2.5k');
    assert.equal(formatAxisStep(12000), '12k');
    assert.equal(formatAxisStep(1500000), '1.5M');
  });

  test('durations', () => {
    assert.equal(formatDuration(0), '0 s');
    assert.equal(formatDuration(4.56), '4.6 s');
    assert.equal(formatDuration(42.04), '42 s');
    assert.equal(formatDuration(200), '3 min 20 s');
    assert.equal(formatDuration(7500), '2 h 05 min');
    assert.equal(formatDuration(97200), '1 d 3 h');
    assert.equal(formatDuration(-30), '−30 s');
    assert.equal(formatDuration(null), '—');
  });

  test('schedule configuration rows: nested configs flattened, lists joined', () => {
    assert.deepEqual(configRows({
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
    assert.deepEqual(configRows({}), []);
    assert.deepEqual(configRows(null), []);
    assert.deepEqual(configRows({empty: {}}), [['empty', '{}']]);
  });
});
