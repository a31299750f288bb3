import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretKeyError, decryptSecret, decryptSecrets, encryptSecret, MASKED, packSecrets, parseSecretKey, scrubSecrets, unpackSecrets } from './secrets.ts';

const key = Buffer.alloc(32, 7);

describe('encryptSecret / decryptSecret', () => {
  it('round-trips text, including non-ASCII and a multi-line private key', () => {
    for (const plain of ['hunter2', 'pässwörd ✓', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n', '']) {
      expect(decryptSecret(key, encryptSecret(key, plain))).toBe(plain);
    }
  });

  it('stores "v1:iv:tag:ciphertext" with a fresh 12-byte IV each time and no plaintext', () => {
    const a = encryptSecret(key, 'correct horse battery staple');
    const b = encryptSecret(key, 'correct horse battery staple');
    expect(a).not.toBe(b);
    const [version, iv, tag, ciphertext] = a.split(':');
    expect(version).toBe('v1');
    expect(Buffer.from(iv!, 'base64')).toHaveLength(12);
    expect(Buffer.from(tag!, 'base64')).toHaveLength(16);
    expect(Buffer.from(ciphertext!, 'base64')).toHaveLength('correct horse battery staple'.length);
    expect(a).not.toContain('horse');
  });

  it('fails clearly with the wrong key or a damaged value', () => {
    const stored = encryptSecret(key, 'hunter2');
    expect(() => decryptSecret(Buffer.alloc(32, 8), stored)).toThrow(SecretKeyError);
    expect(() => decryptSecret(Buffer.alloc(32, 8), stored)).toThrow(/^cannot decrypt agency secrets: wrong key/);
    const [v, iv, tag, ct] = stored.split(':') as [string, string, string, string];
    const flipped = Buffer.from(ct, 'base64');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => decryptSecret(key, [v, iv, tag, flipped.toString('base64')].join(':'))).toThrow(/wrong key/);
    expect(() => decryptSecret(key, 'plain text')).toThrow('cannot decrypt agency secrets: the stored value is not in a known format');
  });

  it('refuses a truncated tag: GCM would otherwise check only the bytes it was given', () => {
    const stored = encryptSecret(key, 'hunter2');
    const [v, iv, tag, ct] = stored.split(':') as [string, string, string, string];
    for (const bytes of [4, 8, 12, 15]) {
      const short = Buffer.from(tag, 'base64').subarray(0, bytes).toString('base64');
      expect(() => decryptSecret(key, [v, iv, short, ct].join(':'))).toThrow(SecretKeyError);
    }
  });
});

describe('parseSecretKey', () => {
  it('reads 32 bytes as base64, URL-safe base64 or hex, ignoring surrounding whitespace', () => {
    const raw = randomBytes(32);
    expect(parseSecretKey(raw.toString('base64') + '\n', 'test').equals(raw)).toBe(true);
    expect(parseSecretKey(raw.toString('base64url'), 'test').equals(raw)).toBe(true);
    expect(parseSecretKey(` ${raw.toString('hex').toUpperCase()} `, 'test').equals(raw)).toBe(true);
  });

  it('rejects other lengths and text without echoing the value', () => {
    for (const bad of [randomBytes(16).toString('base64'), randomBytes(31).toString('hex'), 'not a key at all, really not', '']) {
      expect(() => parseSecretKey(bad, 'ARREARS_SECRET_KEY')).toThrow(
        'ARREARS_SECRET_KEY is not a valid key: it must be 32 random bytes in base64 or hex, e.g. `openssl rand -base64 32`',
      );
    }
  });
});

describe('MASKED', () => {
  it('is the same for every secret: no character of one, nor its length', () => {
    expect(MASKED).toBe('••••••');
  });
});

describe('packSecrets / decryptSecrets', () => {
  it('keeps each named secret encrypted on its own; the names stay readable without the key', () => {
    const stored = packSecrets({ password: encryptSecret(key, 'pw-1'), secretAccessKey: encryptSecret(key, 'sk-2') })!;
    expect(Object.keys(unpackSecrets(stored))).toEqual(['password', 'secretAccessKey']);
    expect(stored).not.toContain('pw-1');
    expect(decryptSecrets(key, stored)).toEqual({ password: 'pw-1', secretAccessKey: 'sk-2' });
    expect(packSecrets({})).toBeNull();
    expect(decryptSecrets(key, null)).toEqual({});
  });
});

describe('scrubSecrets', () => {
  it('removes every occurrence of a secret and each long line of a multi-line one', () => {
    const privateKey = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----';
    const text = 'login as lib with hunter22 failed; hunter22 again; key line b3BlbnNzaC1rZXktdjEAAAAABG5vbmU';
    expect(scrubSecrets(text, ['hunter22', privateKey])).toBe('login as lib with •••••• failed; •••••• again; key line ••••••');
    expect(scrubSecrets('short pw ab', ['ab'])).toBe('short pw ab');
  });
});
