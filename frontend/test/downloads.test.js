// Unit tests of src/downloads.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {describe, test} from 'node:test';

import {fileName, linesToRows, toCsv} from '../src/downloads.js';

describe('downloads', () => {
  test('CSV quotes what needs quoting and defuses spreadsheet formulas', () => {
    const csv = toCsv(['run', 'value'], [
      ['a,b', 1.5], ['say "hi"', null], ['=HYPERLINK("x")', -0.5], ['-x', NaN], ['line\nbreak', 0],
      ['big', Infinity], ['small', -Infinity], ['tiny', 1e-7],
    ]);
    assert.equal(csv, [
      'run,value',
      '"a,b",1.5',
      '"say ""hi""",',
      '"\'=HYPERLINK(""x"")",-0.5',
      "'-x,nan",
      '"line\nbreak",0',
      'big,inf',
      'small,-inf',
      'tiny,1e-7',
      '',
    ].join('\n'));
  });

  test('lines become one row per point', () => {
    const {header, rows} = linesToRows([
      {run: 'r', series: 'learning_rate', steps: [0, 1], values: [0.1, 0.2], wall_times: [10, null]},
      {run: 'r', series: 'schedule', steps: [0, 1], values: [0.1, null]},
    ]);
    assert.deepEqual(header, ['run', 'series', 'step', 'value', 'wall_time']);
    assert.deepEqual(rows, [
      ['r', 'learning_rate', 0, 0.1, 10], ['r', 'learning_rate', 1, 0.2, null], ['r', 'schedule', 0, 0.1, null],
      ['r', 'schedule', 1, NaN, null],
    ]);
  });

  test('file names keep only safe characters', () => {
    assert.equal(fileName(['lr', '<img src=x onerror=alert(1)>', 'learning_rate/adam'], 'csv'),
        'lr-_img_src_x_onerror_alert_1_-learning_rate_adam.csv');
    assert.equal(fileName(['../..'], 'png'), 'lr.png');
    assert.equal(fileName([''], 'json'), 'lr.json');
  });
});
