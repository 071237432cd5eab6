// Unit tests of the URL building in src/api.js (no network).

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {batchGroups, routeUrl} from '../src/api.js';

const BASE = 'http://127.0.0.1:6006/some/prefix/data/plugin/lr/index.js';

test('routes resolve beside the module, under any path prefix', () => {
  assert.equal(routeUrl('runs', {}, BASE).href, 'http://127.0.0.1:6006/some/prefix/data/plugin/lr/runs');
});

test('parameters are encoded; missing ones are left out', () => {
  const url = routeUrl('series', {run: '<img src=x onerror=alert(1)>', name: 'learning_rate/adam', start: 0, end: null, max_points: undefined}, BASE);
  assert.equal(url.pathname, '/some/prefix/data/plugin/lr/series');
  assert.equal(url.searchParams.get('run'), '<img src=x onerror=alert(1)>');
  assert.equal(url.searchParams.get('name'), 'learning_rate/adam');
  assert.equal(url.searchParams.get('start'), '0');
  assert.equal(url.searchParams.has('end'), false);
  assert.equal(url.searchParams.has('max_points'), false);
  assert.ok(!url.search.includes('<'));
});

test('a run name with & and # stays one parameter', () => {
  const url = routeUrl('deviations', {run: 'a&b=c#d'}, BASE);
  assert.equal(url.searchParams.get('run'), 'a&b=c#d');
  assert.equal(url.hash, '');
});

test('a list is one parameter per item, in order', () => {
  const url = routeUrl('batch', {run: ['b', 'a&x'], window: ['1:2', '']}, BASE);
  assert.deepEqual(url.searchParams.getAll('run'), ['b', 'a&x']);
  assert.deepEqual(url.searchParams.getAll('window'), ['1:2', '']);
});

test('a batch is split in order under the URL budget; a huge name goes alone', () => {
  const runs = ['a', 'b', 'x'.repeat(500), 'c'].map((run) => ({run}));
  const groups = batchGroups(runs, 300);
  assert.deepEqual(groups.map((g) => g.map((r) => r.run.slice(0, 1))), [['a', 'b'], ['x'], ['c']]);
  assert.deepEqual(batchGroups(runs).length, 1);
  assert.deepEqual(batchGroups([]), []);
});
