/** Default progress sink: one line per step on stderr, keeping stdout for command output. */
export function progressToStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}
