/** A string usable as a JS Map key that is equal for equal byte sequences. */
export function keyString(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i] as number);
  return s;
}
