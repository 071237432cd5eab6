// Unit tests of src/ratio_scale.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {cellRatio, firstPicks, ratioRgb, scaleGradient, scaleTicks} from '../src/ratio_scale.js';

describe('update ratio scale', () => {
  test('the ends, the centre and beyond', () => {
    assert.deepEqual(ratioRgb(1e-6), [49, 54, 149]);
    assert.deepEqual(ratioRgb(1e-3), [235, 235, 235]);
    assert.deepEqual(ratioRgb(1), [165, 0, 38]);
    assert.deepEqual(ratioRgb(1e3), ratioRgb(1)); // Clamped.
    assert.deepEqual(ratioRgb(0), ratioRgb(1e-6)); // Zero: the low end.
  });

  test('the colour moves one way from blue to red', () => {
    const reds = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1].map((r) => ratioRgb(r)[0] - ratioRgb(r)[2]);
    for (let i = 1; i < reds.length; i++) assert.ok(reds[i] > reds[i - 1], reds.join());
  });

  test('a cell shows the extreme farther from 1e-3', () => {
    assert.equal(cellRatio(5e-4, 2e-1), 2e-1); // A spike.
    assert.equal(cellRatio(1e-7, 2e-3), 1e-7); // A stalled step.
    assert.equal(cellRatio(0, 1), 0); // Zero is farthest below.
    assert.equal(cellRatio(null, 3e-3), 3e-3);
    assert.equal(cellRatio(2e-3, null), 2e-3);
    assert.equal(cellRatio(null, null), null);
  });

  test('the legend: a tick per decade, a gradient of the same stops', () => {
    assert.deepEqual(scaleTicks().map((t) => t.label), ['1e-6', '1e-5', '1e-4', '1e-3', '1e-2', '1e-1', '1']);
    assert.equal(scaleTicks()[3].at, 0.5);
    assert.match(scaleGradient(), /^linear-gradient\(to right, rgb\(49,54,149\) 0%, .* rgb\(165,0,38\) 100%\)$/);
  });

  test('firstPicks: the highest and the lowest layer, once each', () => {
    const layers = [
      {layer: 'a', low: [1e-3, null], high: [2e-3, null]},
      {layer: 'hot', low: [1e-2, 1e-2], high: [5, 1e-2]},
      {layer: 'cold', low: [1e-8, 1e-6], high: [1e-5, 1e-6]},
    ];
    assert.deepEqual(firstPicks(layers), ['hot', 'cold']);
    assert.deepEqual(firstPicks([layers[0]]), ['a']);
    assert.deepEqual(firstPicks([{layer: 'x', low: [null], high: [null]}]), []);
  });
});
