// A line's digest: any change of a byte, of the length or of the seed is another digest; the
// stored set hands each digest out once; the COPY text of a digest is the bytes a bytea holds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DigestSet, digestBytes, digestInto, digestSalt, newDigest, writeDigestText, DIGEST_BYTES, type Digest } from './digest.ts';

function digestOf(bytes: Uint8Array, salt: Digest | null = null): Buffer {
  const d = newDigest();
  digestInto(bytes, 0, bytes.length, salt, d);
  return digestBytes(d);
}

describe('digestInto', () => {
  it('changes with any one byte changed, the length or the salt, and reads only its span', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, flip) => {
        const i = at % bytes.length;
        const changed = Uint8Array.from(bytes);
        changed[i] = changed[i]! ^ flip;
        expect(digestOf(changed).equals(digestOf(bytes))).toBe(false);
        expect(digestOf(bytes.subarray(0, bytes.length - 1)).equals(digestOf(bytes))).toBe(false);
        expect(digestOf(bytes, digestSalt(['id'])).equals(digestOf(bytes))).toBe(false);
        // The same bytes inside a bigger buffer: the same digest.
        const framed = Uint8Array.from([7, ...bytes, 9]);
        const d = newDigest();
        digestInto(framed, 1, framed.length - 1, null, d);
        expect(digestBytes(d).equals(digestOf(bytes))).toBe(true);
      }),
    );
  });

  it('tells apart lines that differ only in their last block or in a tail of zeros', () => {
    const seen = new Set<string>();
    for (let n = 0; n <= 40; n++) seen.add(digestOf(new Uint8Array(n)).toString('hex'));
    expect(seen.size).toBe(41);
  });

  it('salts by the columns a source has, in all 128 bits: another header is another digest', () => {
    const line = Buffer.from('p1\tAnn');
    const [a, b] = [digestOf(line, digestSalt(['id', 'birth_date'])), digestOf(line, digestSalt(['id']))];
    expect(a.equals(b)).toBe(false);
    expect(digestOf(line, digestSalt(['id', 'birth_date'])).equals(a)).toBe(true);
    // Every word differs, not only the seed's.
    for (let w = 0; w < 4; w++) expect(a.readInt32LE(w * 4)).not.toBe(b.readInt32LE(w * 4));
  });
});

describe('writeDigestText', () => {
  it("writes the digest's bytes as COPY text of a bytea", () => {
    const d = newDigest();
    const line = Buffer.from('p1\tAnn\tMAIN');
    digestInto(line, 0, line.length, digestSalt(['x']), d);
    const out = Buffer.alloc(40);
    const end = writeDigestText(d, out, 0);
    expect(out.subarray(0, end).toString('latin1')).toBe(`\\\\x${digestBytes(d).toString('hex')}`);
  });
});

describe('DigestSet', () => {
  it('hands each stored digest out once, and nothing else', () => {
    const lines = Array.from({ length: 500 }, (_, i) => Buffer.from(`p${i}\tname ${i}`));
    const stored = Buffer.concat(lines.slice(0, 300).map((l) => digestOf(l)));
    const set = new DigestSet(stored);
    expect(set.size).toBe(300);
    const d = newDigest();
    const take = (l: Buffer) => {
      digestInto(l, 0, l.length, null, d);
      return set.take(d);
    };
    expect(lines.map(take).filter(Boolean).length).toBe(300);
    expect(lines.slice(0, 300).every((l) => !take(l))).toBe(true);
  });

  it('takes its digests in pieces', () => {
    const lines = Array.from({ length: 50 }, (_, i) => Buffer.from(`p${i}`));
    const all = lines.map((l) => digestOf(l));
    const set = new DigestSet(Buffer.concat(all.slice(0, 20)), Buffer.concat(all.slice(20)));
    expect(set.size).toBe(50);
    const d = newDigest();
    expect(lines.every((l) => (digestInto(l, 0, l.length, null, d), set.take(d)))).toBe(true);
  });

  it('holds a digest stored twice once, and an empty list of none', () => {
    const one = digestOf(Buffer.from('x'));
    expect(new DigestSet(Buffer.concat([one, one])).size).toBe(1);
    expect(new DigestSet(Buffer.alloc(0)).size).toBe(0);
    expect(one.length).toBe(DIGEST_BYTES);
  });
});
