// Unit tests of run colours and the run selection (colors.js, run_selection.js).
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {PALETTE, lineColor, runColors} from '../src/colors.js';
import {compileFilter, nextSelection} from '../src/run_selection.js';

describe('runs', () => {
  test('colours follow the sorted run names, whatever the input order', () => {
    const a = runColors(['b', 'a', 'c']);
    const b = runColors(['c', 'b', 'a']);
    assert.deepEqual([...a], [...b]);
    assert.equal(a.get('a'), PALETTE[0]);
    assert.equal(a.get('c'), PALETTE[2]);
  });

  test('colours wrap around the palette', () => {
    const names = Array.from({length: PALETTE.length + 1}, (_, i) => `run${String(i).padStart(2, '0')}`);
    const colors = runColors(names);
    assert.equal(colors.get(names[PALETTE.length]), PALETTE[0]);
  });

  test('a further optimizer of a run is drawn fainter', () => {
    assert.equal(lineColor('#1f77b4', 0), '#1f77b4');
    assert.equal(lineColor('#1f77b4', 1), '#1f77b4b3');
    assert.equal(lineColor('currentColor', 1), 'currentColor');
  });

  test('the filter is a case-insensitive regular expression', () => {
    const f = compileFilter('^COS|plat');
    assert.equal(f.error, null);
    assert.ok(f.test('cosine'));
    assert.ok(f.test('plateau'));
    assert.ok(!f.test('manual'));
  });

  test('an invalid regular expression filters as text and says why', () => {
    const f = compileFilter('<img src=x (');
    assert.ok(f.error);
    assert.ok(f.test('<IMG SRC=X (onerror)'));
    assert.ok(!f.test('cosine'));
  });

  test('an empty filter shows everything', () => {
    assert.ok(compileFilter('').test('anything'));
  });

  test('new runs of a live training are selected, deselected runs stay so', () => {
    const next = nextSelection(new Set(['a', 'b']), new Set(['a']), ['a', 'b', 'c']);
    assert.deepEqual([...next].sort(), ['a', 'c']);
  });

  test('runs that disappeared leave the selection', () => {
    assert.deepEqual([...nextSelection(new Set(['a', 'b']), new Set(['a', 'b']), ['b'])], ['b']);
  });
});
