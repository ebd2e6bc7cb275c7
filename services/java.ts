import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir, realpath } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { ServiceError } from '../core/errors.js';

export interface JavaRuntime {
  /** Path of the `java` executable. */
  bin: string;
  /** Feature release: 17, 21, 25 … */
  major: number;
}

/** Where Debian/Ubuntu (and most Linux packages) install JDKs side by side. */
const JVM_DIR = '/usr/lib/jvm';

/**
 * Finds a Java runtime of at least `minMajor`, looking at $JAVA_HOME, `java` on PATH and
 * then every JDK under /usr/lib/jvm (newest first), so a machine whose default Java is
 * too old for one service can still run it with a side-by-side newer JDK.
 */
export async function findJava(
  minMajor: number,
  service: string,
  env: NodeJS.ProcessEnv,
): Promise<JavaRuntime> {
  const found: JavaRuntime[] = [];
  for (const bin of await candidates(env)) {
    const major = await javaMajor(bin, env);
    if (major === undefined) continue;
    if (major >= minMajor) return { bin, major };
    found.push({ bin, major });
  }
  const seen =
    found.length > 0
      ? `found only ${found.map((j) => `Java ${j.major} (${j.bin})`).join(', ')}`
      : 'found none';
  throw new ServiceError(`${service} needs Java ${minMajor} or newer; ${seen}`, {
    hint:
      minMajor <= 17
        ? 'apt-get install openjdk-17-jdk-headless, or install a JDK 17+ and set JAVA_HOME'
        : `install a JDK ${minMajor}+ (e.g. Eclipse Temurin ${minMajor}) under ${JVM_DIR} or set JAVA_HOME to it`,
  });
}

const cache = new Map<string, Promise<number | undefined>>();

/** The feature release of a `java` binary, or undefined when it does not run. */
function javaMajor(bin: string, env: NodeJS.ProcessEnv): Promise<number | undefined> {
  let major = cache.get(bin);
  if (!major) {
    major = new Promise((resolve) => {
      // `-version` prints to stderr; JAVA_TOOL_OPTIONS may add a line before it, hence the search.
      execFile(bin, ['-version'], { env, timeout: 15_000 }, (error, stdout, stderr) => {
        resolve(error ? undefined : parseJavaVersion(`${stderr}\n${stdout}`));
      });
    });
    cache.set(bin, major);
  }
  return major;
}

/** `version "17.0.15"` → 17, `version "25"` → 25, the pre-9 scheme `version "1.8.0_392"` → 8. */
export function parseJavaVersion(output: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}

async function candidates(env: NodeJS.ProcessEnv): Promise<string[]> {
  const list: string[] = [];
  if (env.JAVA_HOME) list.push(join(env.JAVA_HOME, 'bin', 'java'));
  list.push(
    ...(env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'java')),
  );
  list.push(...(await jvmDirJavas()));
  // The same JDK often appears under several names (PATH, alternatives, symlinks); run each one once.
  const unique = new Map<string, string>();
  for (const bin of list) {
    if (!(await isExecutable(bin))) continue;
    const key = await realpath(bin);
    if (!unique.has(key)) unique.set(key, bin);
  }
  return [...unique.values()];
}

function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function jvmDirJavas(): Promise<string[]> {
  const names = await readdir(JVM_DIR).catch(() => [] as string[]);
  // Newest first, so the best match is found with the fewest `java -version` runs.
  const release = (name: string): number =>
    Number(/(\d+)/.exec(name.replace(/^java-1\./, 'java-'))?.[1] ?? 0);
  return names.sort((a, b) => release(b) - release(a)).map((name) => join(JVM_DIR, name, 'bin', 'java'));
}
