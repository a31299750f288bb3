// A row's digest: 128 bits of its line as staged (COPY text, without the row number), kept on
// the row (patrons.line_digest) by the import that wrote it. A re-import whose line has a stored
// digest is the row exactly as the table holds it, so the line is neither staged nor compared.
//
// The hash is MurmurHash3's 128-bit form for 32-bit arithmetic (Math.imul: no BigInt, some
// 13 ms for 100,000 patrons' lines where node:crypto's one call a line costs 90-130). It detects
// change in the library's own export by chance alone (2^-128 a line); it is not collision-
// resistant. A line whose digest is not stored is compared in full, and a line the encoder does
// not vouch for (controls, backslashes, quotes inside: parseRow's way) gets none. What a crafted
// collision could do is bounded to one row: a patron who could make the old and the new text of
// their own name or address collide would keep the old one in Arrears (docs/benchmark.md,
// eighteenth pass, says what would close it).

/** Bytes of a digest. */
export const DIGEST_BYTES = 16;

const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** A word of the input, mixed before it enters its lane. */
function mixK(k: number, a: number, r: number, b: number): number {
  return Math.imul(rotl(Math.imul(k, a), r), b);
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The four words of the last digest computed (digestInto's out). */
export type Digest = Int32Array;

export function newDigest(): Digest {
  return new Int32Array(4);
}

/** Digests buf[start, end) into `out` (four 32-bit words), seeded and then salted with `salt` (digestSalt). */
export function digestInto(buf: Uint8Array, start: number, end: number, salt: Digest | null, out: Digest): void {
  let h1 = salt ? salt[0]! : 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blocks = start + ((end - start) & ~15);
  let i = start;
  for (; i < blocks; i += 16) {
    const k1 = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    const k2 = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    const k3 = buf[i + 8]! | (buf[i + 9]! << 8) | (buf[i + 10]! << 16) | (buf[i + 11]! << 24);
    const k4 = buf[i + 12]! | (buf[i + 13]! << 8) | (buf[i + 14]! << 16) | (buf[i + 15]! << 24);
    h1 = (Math.imul(rotl(h1 ^ mixK(k1, C1, 15, C2), 19) + h2, 5) + 0x561ccd1b) | 0;
    h2 = (Math.imul(rotl(h2 ^ mixK(k2, C2, 16, C3), 17) + h3, 5) + 0x0bcaa747) | 0;
    h3 = (Math.imul(rotl(h3 ^ mixK(k3, C3, 17, C4), 15) + h4, 5) + 0x96cd1c35) | 0;
    h4 = (Math.imul(rotl(h4 ^ mixK(k4, C4, 18, C1), 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  // The last bytes, fewer than 16, little-endian into the four words.
  let k1 = 0;
  let k2 = 0;
  let k3 = 0;
  let k4 = 0;
  for (let j = 0; i + j < end; j++) {
    const b = buf[i + j]! << ((j & 3) * 8);
    if (j < 4) k1 |= b;
    else if (j < 8) k2 |= b;
    else if (j < 12) k3 |= b;
    else k4 |= b;
  }
  if (i < end) {
    h1 ^= mixK(k1, C1, 15, C2);
    h2 ^= mixK(k2, C2, 16, C3);
    h3 ^= mixK(k3, C3, 17, C4);
    h4 ^= mixK(k4, C4, 18, C1);
  }
  const length = end - start;
  h1 ^= length;
  h2 ^= length;
  h3 ^= length;
  h4 ^= length;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  out[0] = h1;
  out[1] = (h2 + h1) | 0;
  out[2] = (h3 + h1) | 0;
  out[3] = (h4 + h1) | 0;
  if (salt) for (let w = 0; w < 4; w++) out[w] = out[w]! ^ salt[w]!;
}

/**
 * The salt of a source's digests: which staging columns it has, all 128 bits of it mixed into
 * each line's digest. A file without a column leaves that column as it was, while a file with it
 * blank empties it, and both stage it as null; so the same line under other headers is another
 * digest. The version changes if the staged text does.
 */
export function digestSalt(presentColumns: readonly string[]): Digest {
  const text = Buffer.from(`line-digest 1:${presentColumns.join(',')}`, 'utf8');
  const out = newDigest();
  digestInto(text, 0, text.length, null, out);
  return out;
}

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Writes `digest` as COPY text of a bytea (\\x and 32 hex digits) at buf[to]; returns the next byte. */
export function writeDigestText(digest: Digest, buf: Uint8Array, to: number): number {
  buf[to++] = 92; // a backslash, escaped for COPY: the value is \x…
  buf[to++] = 92;
  buf[to++] = 120;
  for (let w = 0; w < 4; w++) {
    const v = digest[w]!;
    // Little-endian bytes, as digestsOf reads a stored digest back.
    for (let b = 0; b < 4; b++) {
      const byte = (v >>> (b * 8)) & 0xff;
      buf[to++] = HEX[byte >>> 4]!;
      buf[to++] = HEX[byte & 15]!;
    }
  }
  return to;
}

/** The digest as the 16 bytes a bytea holds (as writeDigestText writes them). */
export function digestBytes(digest: Digest): Buffer {
  const b = Buffer.alloc(DIGEST_BYTES);
  for (let w = 0; w < 4; w++) b.writeInt32LE(digest[w]!, w * 4);
  return b;
}

/**
 * The stored digests of a table, each to be taken once: a hash table of their words (34 to 68
 * bytes a row: its slots are a power of two, at least twice the rows). A line taken twice (the
 * same row twice in a file) is found once only.
 */
export class DigestSet {
  private readonly words: Int32Array;
  /** 0 empty, 1 stored, 2 taken. */
  private readonly state: Uint8Array;
  private readonly mask: number;
  /** Digests stored (repeats counted once). */
  size = 0;

  /** From the stored digests end to end, in one or more pieces (string_agg of the bytea column). */
  constructor(...pieces: Uint8Array[]) {
    let n = 0;
    for (const all of pieces) n += Math.floor(all.length / DIGEST_BYTES);
    let slots = 16;
    while (slots < n * 2) slots *= 2;
    this.words = new Int32Array(slots * 4);
    this.state = new Uint8Array(slots);
    this.mask = slots - 1;
    const d = newDigest();
    for (const all of pieces) {
      const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
      for (let i = 0; i < Math.floor(all.length / DIGEST_BYTES); i++) {
        for (let w = 0; w < 4; w++) d[w] = view.getInt32(i * DIGEST_BYTES + w * 4, true);
        const slot = this.find(d);
        if (this.state[slot] === 0) {
          this.state[slot] = 1;
          this.words.set(d, slot * 4);
          this.size++;
        }
      }
    }
  }

  /** The slot holding d, or the empty slot where it would go. */
  private find(d: Digest): number {
    let slot = d[0]! & this.mask;
    const words = this.words;
    while (this.state[slot] !== 0) {
      const at = slot * 4;
      if (words[at] === d[0] && words[at + 1] === d[1] && words[at + 2] === d[2] && words[at + 3] === d[3]) return slot;
      slot = (slot + 1) & this.mask;
    }
    return slot;
  }

  /** Whether d is stored and not yet taken; it is taken. */
  take(d: Digest): boolean {
    const slot = this.find(d);
    if (this.state[slot] !== 1) return false;
    this.state[slot] = 2;
    return true;
  }
}
