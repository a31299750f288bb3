// A set of an ILS's serial keys (copy ids, patron numbers) as one bit each. A full sync notes
// hundreds of thousands to millions of them; a Set of numbers costs 20–40 bytes a key and a
// bitmap an eighth of a byte per key up to the largest, which for keys handed out from 1 is far
// less. A key the bitmap would have to grow too far for (a sparse or odd numbering: past 32
// bytes of bitmap per key held, beyond its first megabyte) is kept in a Set instead.

/** The largest key held as a bit (a bitmap of at most 128 MB). */
const BITS_MAX = 2 ** 30;
/** A bitmap this size (8 M keys) is always allowed; past it, 32 bytes per key held. */
const FREE_BYTES = 1 << 20;
const BYTES_PER_KEY = 32;

export class KeyBits {
  private bits = new Uint8Array(8192);
  private readonly beyond = new Set<number>();
  /** How many keys the set holds. */
  size = 0;

  /** Adds a key; anything but a non-negative integer is refused. */
  add(key: number): void {
    if (!Number.isSafeInteger(key) || key < 0) throw new RangeError(`not a key: ${key}`);
    const byte = Math.floor(key / 8);
    if (byte >= this.bits.length && !this.grow(key, byte)) {
      if (!this.beyond.has(key)) {
        this.beyond.add(key);
        this.size++;
      }
      return;
    }
    const mask = 1 << (key & 7);
    if ((this.bits[byte]! & mask) === 0 && !(this.beyond.size > 0 && this.beyond.has(key))) {
      this.bits[byte] = this.bits[byte]! | mask;
      this.size++;
    }
  }

  /** Grows the bitmap to hold `byte`, if that is not too far; false if it is. */
  private grow(key: number, byte: number): boolean {
    if (key > BITS_MAX || byte >= Math.max(FREE_BYTES, BYTES_PER_KEY * (this.size + 1))) return false;
    let length = this.bits.length;
    while (length <= byte) length *= 2;
    const grown = new Uint8Array(length);
    grown.set(this.bits);
    this.bits = grown;
    return true;
  }

  has(key: number): boolean {
    if (!Number.isSafeInteger(key) || key < 0) return false;
    const byte = Math.floor(key / 8);
    if (byte < this.bits.length && (this.bits[byte]! & (1 << (key & 7))) !== 0) return true;
    return this.beyond.size > 0 && this.beyond.has(key);
  }

  /** Every key, in ascending order. */
  *keys(): Generator<number> {
    const beyond = [...this.beyond].sort((a, b) => a - b);
    let next = 0;
    const bits = this.bits;
    for (let byte = 0; byte < bits.length; byte++) {
      const b = bits[byte]!;
      if (b === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((b & (1 << bit)) === 0) continue;
        const key = byte * 8 + bit;
        while (next < beyond.length && beyond[next]! < key) yield beyond[next++]!;
        yield key;
      }
    }
    while (next < beyond.length) yield beyond[next++]!;
  }
}
