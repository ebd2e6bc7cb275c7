/** A typed array of the same kind as `a`, `length` long, starting with a copy of `a` (the rest zeros). */
export function grownTo<T extends Int32Array | Float64Array | Uint8Array>(a: T, length: number): T {
  const out = new (a.constructor as new (length: number) => T)(length);
  out.set(a);
  return out;
}
