import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The parts of V8's `.cpuprofile` format (written by `node --cpu-prof`) that are summarized. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: CallFrame; children?: number[] }>;
  samples: number[];
  timeDeltas: number[];
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface HotSpot {
  /** `function (file:line)`, or a V8 pseudo-frame such as `(garbage collector)`. */
  frame: string;
  ms: number;
  /** Share of all sampled time, in %. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Sampled time in ms (the process's life on its main thread). */
  totalMs: number;
  /** Self time by package (node_modules/<name>), project folder, or V8 pseudo-frame, in %. */
  byArea: Record<string, number>;
  /** Functions by self time (time on top of the stack). */
  self: HotSpot[];
  /** The project's own functions by total time (themselves and what they call): where the stages spend it. */
  total: HotSpot[];
}

/**
 * The main-thread profile of process `pid` in `dir` (Node names them
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread, others are
 * e.g. tsx's loader thread), or without `pid` the largest main-thread profile there (the
 * busiest of several processes), summarized by self time and by total time.
 */
export function summarizeProfile(dir: string, pid?: number, top = 25): ProfileSummary | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile') && f.includes(pid === undefined ? '.0.' : `.${pid}.0.`))
    .map((f) => join(dir, f));
  const file = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) return undefined;
  return summarize(file, JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
}

function summarize(file: string, profile: CpuProfile, top: number): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const selfUs = new Map<string, number>();
  const totalUs = new Map<string, number>();
  const areaUs = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  let sampledUs = 0;
  profile.samples.forEach((id, i) => {
    // The time until the next sample is charged to this sample's stack.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    sampledUs += us;
    add(selfUs, frameName(frame), us);
    add(areaUs, areaOf(frame), us);
    const onStack = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = nodes.get(at)?.callFrame;
      if (f && isProjectFile(f.url)) onStack.add(frameName(f));
    }
    for (const key of onStack) add(totalUs, key, us);
  });
  const percent = (us: number) => Math.round((1000 * us) / Math.max(1, sampledUs)) / 10;
  const ranked = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, ms: Math.round(us / 1000), percent: percent(us) }));
  return {
    file: relative(process.cwd(), file),
    totalMs: Math.round(sampledUs / 1000),
    byArea: Object.fromEntries(
      [...areaUs.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => [area, percent(us)]),
    ),
    self: ranked(selfUs),
    total: ranked(totalUs),
  };
}

const isProjectFile = (url: string) => url.startsWith('file://') && !url.includes('/node_modules/');

/**
 * `name (file:line)`. The project's TypeScript runs as tsx's whitespace-minified output, whose
 * lines do not match the source: those frames show the position in that output instead.
 */
function frameName(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (!frame.url) return name;
  const path = frame.url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules >= 0)
    return `${name} (${path.slice(inModules + 'node_modules/'.length)}:${frame.lineNumber + 1})`;
  if (isProjectFile(frame.url))
    return `${name} (${relative(process.cwd(), path)}, tsx output ${frame.lineNumber + 1}:${frame.columnNumber + 1})`;
  return `${name} (${path}:${frame.lineNumber + 1})`;
}

/** A package, a project folder (topology, operators, …), `node:` internals, builtins, or a V8 pseudo-frame. */
function areaOf(frame: CallFrame): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : 'native builtins';
  if (frame.url.startsWith('node:')) return 'node internals';
  const path = frame.url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules < 0) return relative(process.cwd(), path).split('/')[0] ?? path;
  const [scope, name] = path.slice(inModules + 'node_modules/'.length).split('/');
  return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? path);
}
