// The `batch` route's packed arrays (`arrays=packed`, docs/HTTP_API.md
// "Packed arrays"): each array of numbers as `{dtype, base64}`, its
// little-endian bytes. Writing a million floats as decimal text costs the
// server about a second; packing them, about a millisecond.

const TYPED_ARRAYS = {int32: Int32Array, float32: Float32Array, float64: Float64Array};
// Typed arrays read bytes in the platform's order: swap them on a big-endian one.
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Whether `value` is a packed array.
 * @param {unknown} value
 * @returns {value is {dtype: string, base64: string}}
 */
export function isPacked(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) &&
    typeof value.dtype === 'string' && typeof value.base64 === 'string' && Object.keys(value).length === 2;
}

/**
 * The numbers of one packed array, as the JSON list would hold them
 * (`null` for NaN and infinities).
 * @param {{dtype: string, base64: string}} packed
 * @returns {(number|null)[]}
 */
export function unpackArray({dtype, base64}) {
  const Typed = Object.hasOwn(TYPED_ARRAYS, dtype) ? TYPED_ARRAYS[dtype] : null;
  if (!Typed) throw new Error(`unknown packed dtype ${JSON.stringify(dtype)}`);
  const text = atob(base64);
  const size = Typed.BYTES_PER_ELEMENT;
  const bytes = new Uint8Array(text.length - (text.length % size));
  for (let i = 0; i < bytes.length; i++) bytes[i] = text.charCodeAt(i);
  if (!LITTLE_ENDIAN) for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
  const typed = new Typed(bytes.buffer);
  const numbers = new Array(typed.length);
  for (let i = 0; i < typed.length; i++) numbers[i] = Number.isFinite(typed[i]) ? typed[i] : null;
  return numbers;
}

/**
 * `body` with every packed array in it replaced by its numbers (in place).
 * @template T
 * @param {T} body a parsed JSON answer
 * @returns {T}
 */
export function unpackArrays(body) {
  if (Array.isArray(body)) {
    for (let i = 0; i < body.length; i++) body[i] = isPacked(body[i]) ? unpackArray(body[i]) : unpackArrays(body[i]);
  } else if (body !== null && typeof body === 'object') {
    for (const [key, value] of Object.entries(body)) {
      if (isPacked(value)) body[key] = unpackArray(value);
      else if (value !== null && typeof value === 'object') unpackArrays(value);
    }
  }
  return body;
}
