import { readdirSync, readFileSync } from 'node:fs';

/** Linux USER_HZ: the unit of the CPU times in /proc. */
const CLOCK_TICKS = 100;

/**
 * CPU seconds (user + system) used so far by process `pid` and all its descendants (the
 * collector's workers), from /proc/<pid>/stat; undefined where /proc is missing. A process that
 * exited in between is not counted.
 */
export function processTreeCpuSeconds(pid: number): number | undefined {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command (in parentheses, which may hold spaces): state ppid … utime(14) stime(15).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(name), {
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]),
      });
    } catch {
      // Gone meanwhile.
    }
  }
  if (!stats.has(pid)) return undefined;
  let ticks = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const p = pending.pop() as number;
    ticks += stats.get(p)?.ticks ?? 0;
    for (const [child, s] of stats) if (s.ppid === p) pending.push(child);
  }
  return ticks / CLOCK_TICKS;
}

/** CPU seconds the whole machine has been busy (all CPUs, anything but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
    const [, ...values] = line.trim().split(/\s+/);
    const ticks = values.map(Number);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - idle) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
