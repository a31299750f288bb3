import { defineConfig } from 'vitest/config';

// Unit tests sit beside the code; integration tests under test/ run twice,
// once on embedded PGlite and once on the PostgreSQL server (fresh schema per file).
const SETUP = ['./test/setup-seed.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts'], setupFiles: SETUP } },
      {
        test: {
          name: 'pglite',
          include: ['test/**/*.test.ts'],
          setupFiles: SETUP,
          env: { ARREARS_TEST_DB: 'pglite' },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          setupFiles: SETUP,
          env: { ARREARS_TEST_DB: 'postgres' },
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
