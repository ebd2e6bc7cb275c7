/**
 * Avro binary output written straight from JavaScript values, for hot encoders such as
 * (encodeRollup.ts): one growable buffer, strings of ASCII characters copied in
 * JS rather than one native UTF-8 write each. `start` begins a value, `done` copies it out.
 */
export class AvroWriter {
  private buffer = Buffer.allocUnsafeSlow(1 << 16);
  /** The buffer's memory, for doubles (a DataView's store is inlined; `writeDoubleLE` checks its arguments). */
  private view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length);
  private at = 0;

  /** Begins a value of at most `bound` bytes (a generous estimate; the buffer grows to it). */
  start(bound: number): void {
    if (bound > this.buffer.length) {
      this.buffer = Buffer.allocUnsafeSlow(bound * 2);
      this.view = new DataView(this.buffer.buffer, this.buffer.byteOffset, this.buffer.length);
    }
    this.at = 0;
  }

  done(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.at));
  }

  /** The Confluent wire header: magic byte 0, then the schema id (u32 big-endian). */
  wireHeader(schemaId: number): void {
    this.buffer[this.at++] = 0;
    this.buffer.writeUInt32BE(schemaId, this.at);
    this.at += 4;
  }

  byte(b: number): void {
    this.buffer[this.at++] = b;
  }

  /** Zig-zag varint of a safe integer (Avro int and long). */
  long(n: number): void {
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    while (z >= 0x80) {
      this.buffer[this.at++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
    this.buffer[this.at++] = z;
  }

  double(v: number): void {
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }

  string(text: string): void {
    const length = text.length;
    if (length < 0x40) {
      // Short ASCII: one length byte, the characters as bytes.
      const start = this.at;
      this.buffer[this.at++] = length * 2;
      for (let i = 0; i < length; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) {
          this.at = start;
          return this.utf8(text);
        }
        this.buffer[this.at++] = c;
      }
      return;
    }
    this.utf8(text);
  }

  /** Bytes already in Avro form, copied as they are. */
  raw(data: Uint8Array): void {
    this.buffer.set(data, this.at);
    this.at += data.length;
  }

  bytes(data: Uint8Array): void {
    this.long(data.length);
    this.buffer.set(data, this.at);
    this.at += data.length;
  }

  private utf8(text: string): void {
    this.long(Buffer.byteLength(text));
    this.at += this.buffer.write(text, this.at);
  }
}

/** A bound on the Avro size of a string: its UTF-16 units × 3 plus the length. */
export function stringBound(text: string): number {
  return 10 + text.length * 3;
}
