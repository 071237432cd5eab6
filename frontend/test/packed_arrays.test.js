// Unit tests of src/packed_arrays.js.
// Run: node --test frontend/test/

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {isPacked, unpackArray, unpackArrays} from '../src/packed_arrays.js';

function packed(Typed, numbers) {
  const bytes = new Uint8Array(new Typed(numbers).buffer);
  return {dtype: Typed.name.replace('Array', '').toLowerCase(), base64: btoa(String.fromCharCode(...bytes))};
}

test('the server packs float32 [0.5, NaN] so (json_encoding.pack_array doctest)', () => {
  assert.deepEqual(unpackArray({dtype: 'float32', base64: 'AAAAPwAAwH8='}), [0.5, null]);
  assert.deepEqual(unpackArray({dtype: 'int32', base64: 'AAAAAAEAAAA='}), [0, 1]);
});

test('every dtype unpacks to the numbers a JSON list would hold', () => {
  assert.deepEqual(unpackArray(packed(Int32Array, [0, -7, 2 ** 31 - 1])), [0, -7, 2 ** 31 - 1]);
  assert.deepEqual(unpackArray(packed(Float32Array, [0.1, Infinity, -Infinity])), [Math.fround(0.1), null, null]);
  assert.deepEqual(unpackArray(packed(Float64Array, [1750000000.01, 2 ** 53])), [1750000000.01, 2 ** 53]);
  assert.deepEqual(unpackArray({dtype: 'float64', base64: ''}), []);
  assert.throws(() => unpackArray({dtype: 'int64', base64: ''}), /unknown packed dtype "int64"/);
});

test('a whole answer is unpacked where it is packed, and only there', () => {
  const body = {runs: [{
    run: 'a',
    learning_rates: [{steps: packed(Int32Array, [3, 4]), values: packed(Float32Array, [0.5, NaN]), total: 2}],
    schedules: [{config: {dtype: 'float32', base64: 'x', extra: 1}, steps: packed(Int32Array, [3])}],
  }]};
  assert.deepEqual(unpackArrays(body), {runs: [{
    run: 'a',
    learning_rates: [{steps: [3, 4], values: [0.5, null], total: 2}],
    schedules: [{config: {dtype: 'float32', base64: 'x', extra: 1}, steps: [3]}],
  }]});
  assert.equal(isPacked([1, 2]), false);
  assert.equal(isPacked(null), false);
});
