// COPY's text format, gathered in byte chunks for pg-copy-streams: what an import stages on
// PostgreSQL. Rows come as values (copyLine) or are written straight in by rowEncoder.

export type StageValue = string | number | boolean | Date | null;

/** Bytes of COPY text sent at a time. */
const CHUNK_BYTES = 1 << 20;

/**
 * COPY text gathered in byte chunks. Each line is written into a chunk as soon as it is made,
 * so the line and its pieces die young: kept as strings until a batch was sent, every one of
 * them outlived the garbage collector's young generation and was copied (half of a big
 * import's reading time).
 */
export class CopyText {
  private chunks: Buffer[] = [];
  /** The chunk being written and the next byte to write: rowEncoder writes here itself, after reserve. */
  chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  at = 0;
  /** Lines added since the last take. */
  lines = 0;
  /** Bytes written into chunks already full since the last take. */
  private full = 0;

  /** Bytes of text since the last take. */
  get bytes(): number {
    return this.full + this.at;
  }

  /** Makes room for a line of up to `bytes` bytes in the current chunk. */
  reserve(bytes: number): void {
    if (this.at + bytes <= this.chunk.length) return;
    if (this.at) this.chunks.push(this.chunk.subarray(0, this.at));
    this.full += this.at;
    this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, bytes));
    this.at = 0;
  }

  add(line: string): void {
    // A UTF-16 code unit is at most three bytes of UTF-8, and one more for the line break.
    this.reserve(line.length * 3 + 1);
    this.at += this.chunk.write(line, this.at);
    this.chunk[this.at++] = 10;
    this.lines++;
  }

  /** The text so far, a chunk at a time; the next line starts a new chunk. */
  take(): Buffer[] {
    if (this.at) this.chunks.push(this.chunk.subarray(0, this.at));
    const taken = this.chunks;
    this.chunks = [];
    this.chunk = this.at ? Buffer.allocUnsafe(CHUNK_BYTES) : this.chunk;
    this.at = 0;
    this.lines = 0;
    this.full = 0;
    return taken;
  }
}

/** One row in COPY's text format (without its line break): tab-separated, \N for null, backslash escapes for the separators. */
export function copyLine(r: readonly StageValue[]): string {
  let line = copyValue(r[0] ?? null);
  for (let i = 1; i < r.length; i++) line += '\t' + copyValue(r[i] ?? null);
  return line;
}

const COPY_SPECIAL = /[\\\t\n\r]/;

/** A string as COPY text: backslash escapes for the separators. */
export function copyString(v: string): string {
  return COPY_SPECIAL.test(v) ? v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : v;
}

function copyValue(v: StageValue): string {
  if (typeof v === 'string') return copyString(v);
  if (v === null) return '\\N';
  if (v instanceof Date) return v.toISOString();
  return String(v);
}
