import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The parts of V8's `.cpuprofile` format (written by `node --cpu-prof`) that are summarized. */
interface CpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }>;
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  /** `function (file:line)`, or a V8 pseudo-frame such as `(garbage collector)`. */
  frame: string;
  /** Self time in ms. */
  selfMs: number;
  /** Share of all sampled time, in %. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Sampled time in ms (the process's life on its main thread). */
  totalMs: number;
  /** Self time by package (node_modules/<name>), project folder, or V8 pseudo-frame, in %. */
  byArea: Record<string, number>;
  top: HotSpot[];
}

/**
 * The main-thread profile of process `pid` in `dir` (Node names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile;
 * thread 0 is the main thread, others are e.g. tsx's loader thread), summarized by self time.
 */
export function summarizeProfile(dir: string, pid: number, top = 25): ProfileSummary | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.0.`))
    .map((f) => join(dir, f));
  const file = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!file) return undefined;
  return summarize(file, JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
}

function summarize(file: string, profile: CpuProfile, top: number): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  const areaUs = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample, so it is charged to this sample's frame.
    const us = profile.timeDeltas[i] ?? 0;
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    totalUs += us;
    const key = frameName(frame);
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
    const area = areaOf(frame);
    areaUs.set(area, (areaUs.get(area) ?? 0) + us);
  });
  const percent = (us: number) => Math.round((1000 * us) / Math.max(1, totalUs)) / 10;
  return {
    file: relative(process.cwd(), file),
    totalMs: Math.round(totalUs / 1000),
    byArea: Object.fromEntries(
      [...areaUs.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => [area, percent(us)]),
    ),
    top: [...selfUs.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, selfMs: Math.round(us / 1000), percent: percent(us) })),
  };
}

function frameName(frame: CpuProfile['nodes'][number]['callFrame']): string {
  if (!frame.url) return frame.functionName || '(anonymous)';
  return `${frame.functionName || '(anonymous)'} (${shortUrl(frame.url)}:${frame.lineNumber + 1})`;
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules >= 0) return path.slice(inModules + 'node_modules/'.length);
  return relative(process.cwd(), path);
}

/** A package, a project folder (topology, operators, …), `node:` internals, builtins, or a V8 pseudo-frame. */
function areaOf(frame: CpuProfile['nodes'][number]['callFrame']): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : 'native builtins';
  if (frame.url.startsWith('node:')) return 'node internals';
  const path = frame.url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('node_modules/');
  if (inModules < 0) return relative(process.cwd(), path).split('/')[0] ?? path;
  const [scope, name] = path.slice(inModules + 'node_modules/'.length).split('/');
  return scope?.startsWith('@') ? `${scope}/${name}` : (scope ?? path);
}
