// Unit tests of src/label_layout.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {liftLabels} from '../src/label_layout.js';

/** Whether two placed labels cover each other. */
function overlap(a, b, lineHeight) {
  return Math.abs(a.x - b.x) < (a.width + b.width) / 2 && Math.abs(a.bottom - b.bottom) < lineHeight;
}

describe('label layout', () => {
  test('labels apart stay where they want to be', () => {
    assert.deepEqual(liftLabels([{x: 0, y: 100, width: 50}, {x: 60, y: 90, width: 50}], 14), [100, 90]);
    // Side by side on one line, or one above the other: both fine.
    assert.deepEqual(liftLabels([{x: 0, y: 100, width: 50}, {x: 0, y: 80, width: 50}], 14), [100, 80]);
  });

  test('a label that would cover another moves up above it', () => {
    assert.deepEqual(liftLabels([{x: 0, y: 100, width: 50}, {x: 20, y: 105, width: 50}], 14), [100, 86]);
    // Three at one point: a stack.
    assert.deepEqual(liftLabels([0, 0, 0].map(() => ({x: 5, y: 50, width: 40})), 14), [50, 36, 22]);
  });

  test('moving up past one label may meet another: it keeps moving', () => {
    const labels = [{x: 0, y: 100, width: 60}, {x: 30, y: 86, width: 60}, {x: 60, y: 112, width: 60}];
    const bottoms = liftLabels(labels, 14);
    assert.deepEqual(bottoms, [100, 86, 72]);
    const placed = labels.map((l, i) => ({...l, bottom: bottoms[i]}));
    for (let i = 0; i < placed.length; i++) {
      for (let j = i + 1; j < placed.length; j++) assert.ok(!overlap(placed[i], placed[j], 14), `${i} ${j}`);
    }
  });

  test('no labels, no places', () => {
    assert.deepEqual(liftLabels([], 14), []);
  });
});
