// Unit tests of src/x_axis.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {relativeTimeToStep, relativeX} from '../src/x_axis.js';

describe('relative time', () => {
  const refSteps = [0, 100, 200];
  const refTimes = [1000, 1010, 1030];

  test('steps map to seconds since the first step', () => {
    assert.deepEqual(relativeX([0, 50, 150, 200, 300], null, refSteps, refTimes), [0, 5, 20, 30, null]);
  });

  test('a point\'s own wall time wins over the interpolated one', () => {
    assert.deepEqual(relativeX([0, 50, 100], [1000, null, 1012], refSteps, refTimes), [0, 5, 12]);
    assert.deepEqual(relativeX([0], null, [], []), [null]);
  });

  test('seconds map back to steps, clamped to the logged steps', () => {
    assert.equal(relativeTimeToStep(20, refSteps, refTimes), 150);
    assert.equal(relativeTimeToStep(-5, refSteps, refTimes), 0);
    assert.equal(relativeTimeToStep(99, refSteps, refTimes), 200);
    assert.equal(relativeTimeToStep(1, [], []), null);
  });

  test('missing and backward wall times are skipped', () => {
    assert.deepEqual(relativeX([100], null, [0, 50, 100], [null, 1000, 1010]), [10]);
    assert.deepEqual(relativeX([100], null, [0, 50, 100], [1000, 990, 1010]), [10]);
  });
});
