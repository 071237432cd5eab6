// Unit tests of src/data_loading.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {maxPointsFor, rangeKey} from '../src/data_loading.js';
import {stepWindow} from '../src/x_axis.js';

describe('fetch windows', () => {
  test('max points: two per pixel, within the API\'s limits', () => {
    assert.equal(maxPointsFor(800), 1600);
    assert.equal(maxPointsFor(800, 2), 3200);
    assert.equal(maxPointsFor(800, 3), 3200);
    assert.equal(maxPointsFor(10), 200);
    assert.equal(maxPointsFor(100000), 10000);
    assert.equal(maxPointsFor(800, 2, 20), 3200);
    assert.equal(maxPointsFor(800, 2, 21), 1600); // Crowded: one per device pixel.
  });

  test('a zoom window becomes whole steps, never negative', () => {
    assert.deepEqual(stepWindow(10.4, 99.2), {start: 10, end: 100});
    assert.deepEqual(stepWindow(-3, 5), {start: 0, end: 5});
    assert.deepEqual(stepWindow(9, 2), {start: 2, end: 9});
  });

});

describe('refreshing', () => {
  test('a series grew when its whole step range changed, whatever the window', () => {
    const before = rangeKey({step_range: [0, 99], steps: [40, 50]});
    assert.equal(rangeKey({step_range: [0, 99], steps: [0, 99]}), before);
    assert.notEqual(rangeKey({step_range: [0, 199]}), before);
    assert.equal(rangeKey({}), 'null');
  });
});
