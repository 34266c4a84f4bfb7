/**
 * Canonical JSON for signing: object keys sorted (by UTF-16 code units), no whitespace,
 * `undefined` members dropped, as JSON.stringify writes strings and numbers. The same value
 * always gives the same bytes, whatever order its keys were built in. Pure.
 * Throws on values JSON cannot carry faithfully (non-finite numbers, bigint, functions, cycles).
 */
export function canonicalJson(value: unknown): string {
  const seen = new Set<object>();
  const write = (v: unknown): string => {
    if (v === null) return 'null';
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return JSON.stringify(v);
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`cannot sign a non-finite number (${v})`);
        return JSON.stringify(v);
      case 'object': {
        if (seen.has(v)) throw new TypeError('cannot sign a cyclic value');
        seen.add(v);
        let out: string;
        if (Array.isArray(v)) out = `[${v.map((x) => (x === undefined ? 'null' : write(x))).join(',')}]`;
        else {
          const entries = Object.keys(v)
            .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${write((v as Record<string, unknown>)[k])}`);
          out = `{${entries.join(',')}}`;
        }
        seen.delete(v);
        return out;
      }
      default:
        throw new TypeError(`cannot sign a ${typeof v}`);
    }
  };
  return write(value);
}
