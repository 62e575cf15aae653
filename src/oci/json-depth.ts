/**
 * How deeply JSON text nests arrays and objects, found by one scan over the bytes (no parse):
 * a cheap guard to run before JSON.parse and before anything that recurses over the result
 * (JSON.stringify overflows the stack a few thousand levels down). Brackets inside strings do
 * not count; UTF-8 continuation bytes are never ASCII, so scanning bytes is exact. Invalid JSON
 * gets some number: the parser rejects it later.
 *
 * Stops early and returns `limit + 1` once the depth passes `limit`.
 */
export function jsonDepth(bytes: Uint8Array, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte (\" does not end the string)
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return limit + 1;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
