// A small seeded pseudo-random generator for synthetic data: the same (seed, stream)
// always yields the same sequence, on every machine and Node version. Math.random is
// never used where output must be reproducible.
//
// The core is SFC32 (Chris Doty-Humphrey's "small fast counting" generator, 128 bits of
// state, passes PractRand); its state is seeded by hashing (seed, stream), so each stream
// (e.g. one per patron) is independent and can be generated on its own.

export interface Random {
  /** A uniformly distributed unsigned 32-bit integer. */
  next(): number;
  /** A uniformly distributed integer in [min, max], both ends inclusive. */
  int(min: number, max: number): number;
  /** True with probability p (0..1). */
  chance(p: number): boolean;
  /** One element, each equally likely. */
  pick<T>(items: readonly T[]): T;
  /** One value, chosen in proportion to its non-negative integer weight. */
  weighted<T>(choices: ReadonlyArray<readonly [T, number]>): T;
  /** Shuffles in place (Fisher–Yates) and returns the same array. */
  shuffle<T>(items: T[]): T[];
}

const TWO_32 = 4294967296;

/** murmur3's 32-bit finaliser: a bijection on uint32 that spreads every input bit. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function checkSeed(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer: ${value}`);
}

class Sfc32 implements Random {
  private a: number;
  private b: number;
  private c: number;
  private counter = 1;

  constructor(seed: number, stream: number) {
    const seedHigh = Math.floor(seed / TWO_32);
    const streamHigh = Math.floor(stream / TWO_32);
    // mix32 is a bijection, so distinct (seed, stream) pairs below 2^32 give distinct starting states.
    this.a = mix32(seed ^ 0x9e3779b9) ^ mix32(seedHigh + 0x7f4a7c15);
    this.b = mix32(stream ^ 0x85ebca6b) ^ mix32(streamHigh + 0x165667b1);
    this.c = mix32(this.a ^ this.b ^ 0x27d4eb2f);
    // The first outputs of a freshly seeded SFC32 are correlated with its seed.
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.counter) | 0;
    this.counter = (this.counter + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  int(min: number, max: number): number {
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max < min) throw new RangeError(`bad range [${min}, ${max}]`);
    const span = max - min + 1;
    if (span > TWO_32) throw new RangeError(`range [${min}, ${max}] is wider than 2^32`);
    // Rejection keeps every value equally likely when span does not divide 2^32.
    const limit = TWO_32 - (TWO_32 % span);
    let r = this.next();
    while (r >= limit) r = this.next();
    return min + (r % span);
  }

  chance(p: number): boolean {
    return this.next() < p * TWO_32;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('cannot pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  weighted<T>(choices: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, w] of choices) {
      if (!Number.isSafeInteger(w) || w < 0) throw new RangeError(`weights must be non-negative integers: ${w}`);
      total += w;
    }
    if (total === 0) throw new RangeError('weights must not all be zero');
    let r = this.int(0, total - 1);
    for (const [value, w] of choices) {
      if (r < w) return value;
      r -= w;
    }
    throw new Error('unreachable: weights changed while picking');
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}

/** A generator for one (seed, stream) pair; both are non-negative safe integers. */
export function createRandom(seed: number, stream = 0): Random {
  checkSeed('seed', seed);
  checkSeed('stream', stream);
  return new Sfc32(seed, stream);
}
