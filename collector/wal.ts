import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { PipelineError } from '../core/errors.js';

/** Where the next entry to drain is: a segment's sequence number and a byte offset in it. */
export interface WalPosition {
  segment: number;
  offset: number;
}

export interface WalOptions {
  dir: string;
  /** Bytes the log may hold (appended and not yet drained); an append beyond it fails with `WalFullError`. */
  maxBytes: number;
  /** A segment file is closed and a new one started beyond this size. */
  segmentBytes: number;
}

/** The log holds `maxBytes` already: the entry was not appended. */
export class WalFullError extends PipelineError {}

/** length (u32) + CRC-32 of the payload (u32), then the payload. */
const HEADER = 8;
const POSITION_FILE = 'position.json';
const SEGMENT = /^(\d{16})\.wal$/;

/** Bytes an entry with a payload of `payloadBytes` takes in the log. */
export function entryBytes(payloadBytes: number): number {
  return HEADER + payloadBytes;
}

/** True when `dir` holds segments of a log (drained or not). */
export function logExists(dir: string): boolean {
  try {
    return readdirSync(dir).some((name) => SEGMENT.test(name));
  } catch {
    return false;
  }
}

/**
 * Removes a drained log's files from `dir`, and `dir` itself once empty. The position goes
 * last: a crash in between leaves segments behind a position, which count as drained.
 */
export function removeLog(dir: string): void {
  for (const name of readdirSync(dir)) if (SEGMENT.test(name)) rmSync(join(dir, name), { force: true });
  rmSync(join(dir, `${POSITION_FILE}.tmp`), { force: true });
  rmSync(join(dir, POSITION_FILE), { force: true });
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: other logs live below it.
  }
}

/**
 * A write-ahead log of opaque entries on local disk, drained in order. `append` returns once
 * the entries are written and fdatasync'ed, so an entry acknowledged to a client survives a
 * crash or power loss. Segment files of at most `segmentBytes`; the drain position is kept
 * in `position.json` (replaced atomically), and segments behind it are deleted. On open, a
 * torn entry at the end of the last segment (a crash mid-append) is cut off.
 *
 * Synchronous on purpose: appends and drains interleave in one order, and one fsync covers
 * every entry of a request.
 */
export class WriteAheadLog {
  private readonly segments: number[] = [];
  private position: WalPosition;
  private writeFd: number | undefined;
  private writeSize = 0;
  private bytes = 0;

  private constructor(private readonly options: WalOptions) {
    mkdirSync(options.dir, { recursive: true });
    for (const name of readdirSync(options.dir)) {
      const match = SEGMENT.exec(name);
      if (match) this.segments.push(Number(match[1]));
    }
    this.segments.sort((a, b) => a - b);
    this.position = this.readPosition();
    this.recoverTail();
    this.bytes = this.countPending();
  }

  static open(options: WalOptions): WriteAheadLog {
    return new WriteAheadLog(options);
  }

  /** Bytes appended and not yet drained. */
  get pendingBytes(): number {
    return this.bytes;
  }

  get isEmpty(): boolean {
    return this.bytes === 0;
  }

  /**
   * True when `bytes` more (entries, headers included: `entryBytes`) fit in the log: the one
   * test of fullness, for `append` and for the collector's readiness alike.
   */
  fits(bytes: number): boolean {
    return this.bytes + bytes <= this.options.maxBytes;
  }

  /** Appends `payloads` as entries, durably (one fdatasync), or throws `WalFullError` without appending any. */
  append(payloads: Buffer[]): void {
    const size = payloads.reduce((n, p) => n + entryBytes(p.length), 0);
    if (!this.fits(size)) {
      throw new WalFullError(
        `the write-ahead log is full (${this.bytes} of ${this.options.maxBytes} bytes waiting for Kafka)`,
        { retriable: true },
      );
    }
    if (
      this.writeFd === undefined ||
      (this.writeSize > 0 && this.writeSize + size > this.options.segmentBytes)
    )
      this.roll();
    const buffer = Buffer.allocUnsafe(size);
    let at = 0;
    for (const payload of payloads) {
      buffer.writeUInt32BE(payload.length, at);
      buffer.writeUInt32BE(crc32(payload), at + 4);
      payload.copy(buffer, at + HEADER);
      at += HEADER + payload.length;
    }
    const fd = this.writeFd as number;
    writeSync(fd, buffer, 0, size, this.writeSize);
    fdatasyncSync(fd);
    this.writeSize += size;
    this.bytes += size;
  }

  /**
   * The entries from the drain position on, about `maxBytes` of them (at least one when any),
   * and the position after them, to pass to `advance` once they are drained.
   */
  read(maxBytes: number): { entries: Buffer[]; next: WalPosition } {
    let { segment, offset } = this.position;
    const entries: Buffer[] = [];
    let taken = 0;
    for (;;) {
      const file = this.segmentPath(segment);
      const size = this.segmentSize(segment);
      if (offset >= size) {
        const later = this.segments.find((s) => s > segment);
        if (later === undefined) break;
        segment = later;
        offset = 0;
        continue;
      }
      const fd = openSync(file, 'r');
      try {
        while (offset < size && (entries.length === 0 || taken < maxBytes)) {
          const header = Buffer.allocUnsafe(HEADER);
          readSync(fd, header, 0, HEADER, offset);
          const length = header.readUInt32BE(0);
          const payload = Buffer.allocUnsafe(length);
          readSync(fd, payload, 0, length, offset + HEADER);
          if (crc32(payload) !== header.readUInt32BE(4)) {
            throw new PipelineError(`write-ahead log ${file} is corrupt at byte ${offset} (CRC mismatch)`);
          }
          entries.push(payload);
          offset += HEADER + length;
          taken += HEADER + length;
        }
      } finally {
        closeSync(fd);
      }
      if (taken >= maxBytes) break;
    }
    return { entries, next: { segment, offset } };
  }

  /** Records that everything before `next` is drained (durably) and deletes segments behind it. */
  advance(next: WalPosition): void {
    const tmp = join(this.options.dir, `${POSITION_FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify(next));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.options.dir, POSITION_FILE));
    this.syncDir();
    this.position = next;
    while (this.segments.length > 0 && (this.segments[0] as number) < next.segment) {
      const old = this.segments.shift() as number;
      rmSync(this.segmentPath(old), { force: true });
    }
    this.bytes = this.countPending();
  }

  close(): void {
    if (this.writeFd !== undefined) closeSync(this.writeFd);
    this.writeFd = undefined;
  }

  private roll(): void {
    if (this.writeFd !== undefined) closeSync(this.writeFd);
    const last = this.segments.at(-1);
    // Appends continue the last segment after a restart while it has room.
    if (
      this.writeFd === undefined &&
      last !== undefined &&
      this.segmentSize(last) < this.options.segmentBytes
    ) {
      this.writeFd = openSync(this.segmentPath(last), 'r+');
      this.writeSize = fstatSync(this.writeFd).size;
      return;
    }
    const next = (last ?? 0) + 1;
    this.writeFd = openSync(this.segmentPath(next), 'w+');
    this.writeSize = 0;
    this.segments.push(next);
    this.syncDir();
  }

  private readPosition(): WalPosition {
    const file = join(this.options.dir, POSITION_FILE);
    const first = { segment: this.segments[0] ?? 1, offset: 0 };
    if (!existsSync(file)) return first;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<WalPosition>;
      if (Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset))
        return { segment: parsed.segment as number, offset: parsed.offset as number };
    } catch {
      // Unreadable: start from the oldest segment; a replay beats a loss.
    }
    return first;
  }

  /** Cuts a torn entry (short or failing its CRC) off the end of the last segment. */
  private recoverTail(): void {
    const last = this.segments.at(-1);
    if (last === undefined) return;
    const fd = openSync(this.segmentPath(last), 'r+');
    try {
      const size = fstatSync(fd).size;
      let offset = 0;
      const header = Buffer.allocUnsafe(HEADER);
      while (offset + HEADER <= size) {
        readSync(fd, header, 0, HEADER, offset);
        const length = header.readUInt32BE(0);
        if (offset + HEADER + length > size) break;
        const payload = Buffer.allocUnsafe(length);
        readSync(fd, payload, 0, length, offset + HEADER);
        if (crc32(payload) !== header.readUInt32BE(4)) break;
        offset += HEADER + length;
      }
      if (offset < size) {
        ftruncateSync(fd, offset);
        fsyncSync(fd);
      }
    } finally {
      closeSync(fd);
    }
  }

  private countPending(): number {
    let total = 0;
    for (const s of this.segments) {
      if (s < this.position.segment) continue;
      total += this.segmentSize(s) - (s === this.position.segment ? this.position.offset : 0);
    }
    return Math.max(0, total);
  }

  private segmentSize(segment: number): number {
    try {
      const fd = openSync(this.segmentPath(segment), 'r');
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch {
      return 0;
    }
  }

  private segmentPath(segment: number): string {
    return join(this.options.dir, `${String(segment).padStart(16, '0')}.wal`);
  }

  /** Makes a created, renamed or deleted file's directory entry durable. */
  private syncDir(): void {
    const fd = openSync(this.options.dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
