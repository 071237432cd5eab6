// Unit tests of src/range_test_reading.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {RANGE_TEST_RULES} from '../src/constants.js';
import {
  DIVERGENCE, EXPLANATIONS, formatRate, isPythonIdentifier, lossCeiling, pythonLine,
  stopNote, suggestedRule, suggestionMarks, suggestionRows,
} from '../src/range_test_reading.js';

const suggestion = (rule, rate, reason = null) => ({rule, learning_rate: rate, reason});

describe('range test reading', () => {
  test('rates to two significant digits, as Python literals', () => {
    assert.equal(formatRate(0.0031622776), '3.2e-3');
    assert.equal(formatRate(1e-4), '1e-4');
    assert.equal(formatRate(0.0999), '0.1');
    assert.equal(formatRate(0.15), '0.15');
    assert.equal(formatRate(0.01), '0.01');
    assert.equal(formatRate(0.00996), '0.01'); // Rounded first, then written.
    assert.equal(formatRate(3), '3');
    assert.equal(formatRate(25000), '2.5e4');
    assert.equal(formatRate(0), '0');
    assert.equal(formatRate(null), '—');
    assert.equal(formatRate(NaN), '—');
    for (const text of ['3.2e-3', '1e-4', '0.15', '2.5e4']) assert.ok(Number.isFinite(Number(text)), text);
  });

  test('every rule and the divergence are explained', () => {
    assert.deepEqual(Object.keys(EXPLANATIONS), [...RANGE_TEST_RULES, DIVERGENCE]);
    assert.match(EXPLANATIONS.valley, /fastai's default rule/);
    assert.match(EXPLANATIONS.divergence, /train below it$/);
  });

  test('the table lists the four rules in order, then the divergence', () => {
    const rows = suggestionRows({
      suggestions: [suggestion('steep', null, 'the loss never fell'), suggestion('valley', 3e-3)],
      divergence: 0.2,
    });
    assert.deepEqual(rows.map((r) => r.rule), [...RANGE_TEST_RULES, DIVERGENCE]);
    assert.deepEqual(rows[0], {rule: 'valley', rate: 3e-3, reason: null, explanation: EXPLANATIONS.valley, choosable: true});
    assert.equal(rows[1].reason, 'not recorded'); // slide: not in the answer.
    assert.deepEqual([rows[3].rate, rows[3].reason, rows[3].choosable], [null, 'the loss never fell', false]);
    assert.deepEqual([rows[4].rate, rows[4].choosable], [0.2, false]);
    const none = suggestionRows({suggestions: [], divergence: null});
    assert.match(none[4].reason, /did not blow up/);
  });

  test('valley is offered first, else the first rule with a rate', () => {
    assert.equal(suggestedRule([suggestion('slide', 1e-2), suggestion('valley', 3e-3)]), 'valley');
    assert.equal(suggestedRule([suggestion('valley', null, 'x'), suggestion('slide', null, 'y'),
      suggestion('minimum', 2e-3)]), 'minimum');
    assert.equal(suggestedRule([suggestion('valley', null, 'x')]), null);
    assert.equal(suggestedRule([]), null);
  });

  test('the Python line names the optimizer only when Python can', () => {
    assert.equal(pythonLine('SGD', 0.0032), 'keras.optimizers.SGD(learning_rate=3.2e-3)');
    assert.equal(pythonLine('AdamW', 0.05), 'keras.optimizers.AdamW(learning_rate=0.05)');
    for (const name of ['', null, '1Cycle', 'My Optimizer', 'a.b', '<img src=x>', 'None', 'class', 'Adam\n']) {
      assert.equal(pythonLine(name, 1e-3), 'keras.optimizers.YourOptimizer(learning_rate=1e-3)', String(name));
    }
    assert.ok(isPythonIdentifier('_Private2'));
    assert.ok(isPythonIdentifier('Optimiseur_é'));
    assert.ok(!isPythonIdentifier(undefined));
  });

  test('why the sweep stopped', () => {
    const rates = [1e-4, 1e-3, 1e-2];
    const settings = {num_steps: 60, stop_factor: 4};
    assert.equal(stopNote({stopped: 'completed', learning_rates: rates, settings}), 'Ran all 3 steps, up to max_lr.');
    assert.equal(stopNote({stopped: 'diverged', learning_rates: rates, settings}),
        'Stopped after 3 of 60 steps: the smoothed loss passed 4 × its lowest value.');
    assert.match(stopNote({stopped: 'not_finite', learning_rates: rates, settings}), /NaN or infinite/);
    assert.match(stopNote({stopped: 'out_of_data', learning_rates: rates, settings: {}}),
        /^Stopped after 3 steps: the data ran out/);
    assert.equal(stopNote({stopped: 'unknown', learning_rates: rates, settings: {}}), 'Stopped after 3 steps.');
  });

  test('the loss axis stops at the stop level, or the first loss when higher', () => {
    // Fell to 0.5: the stop level 4 × 0.5 = 2 is above the first loss 1.
    assert.equal(lossCeiling({smoothed_losses: [1, 0.7, 0.5, 3, 80, null], settings: {stop_factor: 4}}), 2);
    // Fell from 10 to 0.5: the start stays in view.
    assert.equal(lossCeiling({smoothed_losses: [10, 1, 0.5, 9e9], settings: {stop_factor: 4}}), 10);
    assert.equal(lossCeiling({smoothed_losses: [1, 0.5, 2], settings: {}}), 2); // Default factor 4.
    assert.equal(lossCeiling({smoothed_losses: [null, null], settings: {}}), null);
    assert.equal(lossCeiling({smoothed_losses: [0, 0], settings: {}}), null);
  });

  test('marks sit on the smoothed loss at each suggested rate, under the ceiling', () => {
    const sweep = {
      learning_rates: [1e-4, 1e-3, 1e-2, 1e-1],
      smoothed_losses: [1, 0.5, 0.3, null],
      suggestions: [
        suggestion('valley', 10 ** -2.5), suggestion('slide', 1e-2), suggestion('minimum', 1e-3),
        suggestion('steep', null, 'no fall'),
      ],
    };
    const marks = suggestionMarks(sweep, 0.8);
    assert.deepEqual(marks.map((m) => m.rule), ['valley', 'slide', 'minimum']);
    assert.ok(Math.abs(marks[0].y - 0.4) < 1e-12, String(marks[0].y)); // Halfway in log rate.
    assert.deepEqual(marks.map((m) => m.label), ['valley 3.2e-3', 'slide 0.01', 'minimum 1e-3']);
    assert.equal(marks[0].x, 10 ** -2.5);
    // Past the last finite loss: the nearest step's (none here); clipped to the ceiling.
    const far = suggestionMarks({...sweep, suggestions: [suggestion('slide', 0.09)]}, 0.8);
    assert.equal(far[0].y, null);
    const high = suggestionMarks({...sweep, suggestions: [suggestion('valley', 1e-4)]}, 0.8);
    assert.equal(high[0].y, 0.8);
  });
});
