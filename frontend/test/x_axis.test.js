// Unit tests of src/x_axis.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {FRACTION_AXIS, STEP_AXIS, TIME_AXIS, XAxis, relativeTimeToStep, relativeX} from '../src/x_axis.js';

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

describe('the x axis', () => {
  const answer = {steps: [0, 10, 20], wall_times: [100, 110, 130], step_range: [0, 99]};

  test('fraction of the planned run: step / total_steps, past 1 when the run went past its plan', () => {
    const axis = new XAxis(FRACTION_AXIS);
    axis.observe('a', answer, true);
    axis.setPlan('a', 50);
    assert.deepEqual(axis.toX('a', [0, 25, 75]), [0, 0.5, 1.5]);
    assert.equal(axis.stepAt('a', 0.5), 25);
    axis.window = {min: 0.2, max: 0.4};
    assert.deepEqual(axis.stepWindowOf('a'), {start: 10, end: 20});
    assert.equal(axis.describe(['a']), "x: fraction of each run's planned steps");
  });

  test('without a plan, the fraction of the steps written so far, and the legend says so', () => {
    const axis = new XAxis(FRACTION_AXIS);
    axis.observe('b', answer, false);
    assert.deepEqual(axis.toX('b', [0, 50]), [0, 0.5]);
    assert.match(axis.describe(['b']), /written so far for b/);
    assert.deepEqual(axis.toX('unknown', [3]), [null]);
    assert.equal(axis.stepAt('unknown', 0.5), null);
  });

  test('steps and relative time keep their own units; an unknown mode is steps', () => {
    const steps = new XAxis('nonsense');
    assert.equal(steps.mode, STEP_AXIS);
    assert.deepEqual(steps.toX('a', [3, 4]), [3, 4]);
    assert.equal(steps.title(1234.4), 'Step 1,234');
    assert.equal(steps.describe(['a']), null);
    const time = new XAxis(TIME_AXIS);
    time.observe('a', answer, true);
    assert.deepEqual(time.toX('a', [0, 20]), [0, 30]);
    assert.equal(time.stepAt('a', 10), 10);
    assert.ok(time.title(90).endsWith('after start'));
    assert.notEqual(time.key(200), new XAxis(TIME_AXIS).key(400));
  });
});
