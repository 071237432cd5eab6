// Unit tests of src/deviation_rows.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {deviationRows, explainSource, sourceLabel} from '../src/deviation_rows.js';
import {describeProblem} from '../src/format.js';

describe('deviations', () => {
  test('rows are ordered by run and step, with their ratio', () => {
    const rows = deviationRows(new Map([
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
    assert.equal(sourceLabel(plateau), 'ReduceLROnPlateau');
    assert.match(explainSource(plateau), /ReduceLROnPlateau changed/);
    assert.match(explainSource({kind: 'callback', callback: 'LearningRateScheduler'}), /set the rate/);
    assert.equal(sourceLabel({kind: 'manual', callback: null}), 'manual assign');
    assert.match(explainSource({kind: 'manual'}), /by hand/);
    assert.equal(sourceLabel({kind: 'unknown', callback: null}), 'unknown');
    assert.match(explainSource({kind: 'unknown'}), /never applied/);
    // A callback's class is a name, never parsed: spaces and markup stay as they are.
    const odd = {kind: 'callback', callback: 'callback <b>Halve</b>'};
    assert.equal(sourceLabel(odd), 'callback <b>Halve</b>');
    assert.equal(explainSource(odd), 'callback <b>Halve</b> (a callback) changed the rate');
    // A kind this tab does not know (a newer server) reads as unknown.
    assert.equal(sourceLabel({kind: 'scheduled-by-jax'}), 'unknown');
  });

  test('a problem says which steps it concerns', () => {
    assert.equal(describeProblem({message: 'checksum mismatch', step_range: [8192, 16383]}),
      'steps 8,192–16,383: checksum mismatch');
    assert.equal(describeProblem({message: 'one', step_range: [5, 5]}), 'step 5: one');
    assert.equal(describeProblem({message: 'no steps', step_range: null}), 'no steps');
    assert.equal(describeProblem({message: 'bad', step_range: [1, 2], where: 'run a, epoch'}),
      'run a, epoch, steps 1–2: bad');
  });
});
