/**
 * Port range arithmetic for security group rules: what is left of a range once some ports are
 * taken out of it, and how to say a list of ranges to people. Pure.
 */

/** An inclusive range of TCP/UDP ports (from <= to). */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** The lowest and highest TCP/UDP port. */
export const MIN_PORT = 0;
export const MAX_PORT = 65535;

/**
 * `range` without `ports`: the fewest ranges that cover exactly the ports of `range` that are not
 * in `ports`, in ascending order, none overlapping or touching. Empty when nothing is left (a
 * rule for exactly one admin port). Ports outside `range`, duplicates and order do not matter.
 */
export function subtractPorts(range: PortRange, ports: readonly number[]): PortRange[] {
  const cuts = [...new Set(ports)].filter((p) => range.from <= p && p <= range.to).sort((a, b) => a - b);
  const out: PortRange[] = [];
  let start = range.from;
  for (const p of cuts) {
    if (p > start) out.push({ from: start, to: p - 1 });
    start = p + 1;
  }
  if (start <= range.to) out.push({ from: start, to: range.to });
  return out;
}

/** "0-21, 23-3388, 3390-65535"; a range of one port is the port alone ("80"). */
export function formatRanges(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)).join(', ');
}
