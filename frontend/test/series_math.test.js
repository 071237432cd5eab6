// Unit tests of src/series_math.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {epochBoundaries, extendHold, interpolateAt, lowerBound, nearestIndex, valueAt, yExtent} from '../src/series_math.js';

describe('looking values up', () => {
  test('lowerBound and nearestIndex', () => {
    const xs = [0, 10, 20, 30];
    assert.equal(lowerBound(xs, -1), 0);
    assert.equal(lowerBound(xs, 10), 1);
    assert.equal(lowerBound(xs, 11), 2);
    assert.equal(lowerBound(xs, 31), 4);
    assert.equal(nearestIndex(xs, 14), 1);
    assert.equal(nearestIndex(xs, 15), 1); // A tie goes to the earlier point.
    assert.equal(nearestIndex(xs, 16), 2);
    assert.equal(nearestIndex(xs, 99), 3);
    assert.equal(nearestIndex([], 1), -1);
  });

  test('a step-sampled series answers with its nearest point', () => {
    assert.deepEqual(valueAt([0, 10, 20], [1, 2, 3], 12), {step: 10, value: 2, exact: false});
    assert.deepEqual(valueAt([0, 10, 20], [1, 2, 3], 20), {step: 20, value: 3, exact: true});
  });

  test('a change-sampled series holds its value until the next point', () => {
    assert.deepEqual(valueAt([0, 50, 100], [0, 1, 2], 99, 'change'), {step: 99, value: 1, exact: true});
    assert.deepEqual(valueAt([0, 50, 100], [0, 1, 2], 100, 'change'), {step: 100, value: 2, exact: true});
    assert.equal(valueAt([10], [1], 5, 'change'), null);
    assert.equal(valueAt([], [], 5), null);
  });

  test('interpolateAt is exact at points, linear between, null outside', () => {
    assert.equal(interpolateAt([0, 10], [1, 2], 10), 2);
    assert.equal(interpolateAt([0, 10], [1, 2], 5), 1.5);
    assert.equal(interpolateAt([0, 10], [1, 2], 11), null);
    assert.equal(interpolateAt([0, 10, 20], [1, null, 3], 5), null);
  });

  test('epoch boundaries are the steps where the epoch changes', () => {
    assert.deepEqual(epochBoundaries([0, 50, 100, 150], [0, 1, 2, 3]), [50, 100, 150]);
    assert.deepEqual(epochBoundaries([0, 50, 60], [0, 1, 1]), [50]);
    assert.deepEqual(epochBoundaries([], []), []);
  });

  test('a held value is drawn to the run\'s last step', () => {
    assert.deepEqual(extendHold([0, 50], [0.9, 0.8], 199), {steps: [0, 50, 199], values: [0.9, 0.8, 0.8]});
    assert.deepEqual(extendHold([0, 50], [0.9, 0.8], 50), {steps: [0, 50], values: [0.9, 0.8]});
    assert.deepEqual(extendHold([], [], 10), {steps: [], values: []});
  });
});

describe('y range of a window', () => {
  test('yExtent spans every line inside the window and the points next to it', () => {
    const lines = [[[0, 10, 20, 30], [5, 1, 2, 9]], [[15, 25], [3, null]]];
    assert.deepEqual(yExtent(lines, null), [1, 9]);
    // x 12..18: points 10 and 20 of the first line border it; 15 of the second is in it.
    assert.deepEqual(yExtent(lines, {min: 12, max: 18}), [1, 3]);
    assert.equal(yExtent([[[0], [null]]], null), null);
    assert.equal(yExtent([], null), null);
  });
});
