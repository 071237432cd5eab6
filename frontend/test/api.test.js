// Unit tests of the URL building in src/api.js (no network).

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {routeUrl} from '../src/api.js';

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
