// A secret key of the test file's own, for the credentials and connection URLs it stores
// encrypted (on PostgreSQL the key comes from the environment), restored after the file.
// Call it at the top of the file, before the file's own beforeAll, which then finds the key set.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';

export function useTestSecretKey(): void {
  const saved = process.env.ARREARS_SECRET_KEY;
  beforeAll(() => {
    process.env.ARREARS_SECRET_KEY = randomBytes(32).toString('base64');
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.ARREARS_SECRET_KEY;
    else process.env.ARREARS_SECRET_KEY = saved;
  });
}
