// One seed for every fast-check property in a test run, so a failure can be replayed exactly
// (fast-check prints the seed of a failing property): FUZZ_SEED=<n> npm test. CI uses a fixed
// seed, so a submission never passes or fails by luck; a developer's run picks a new seed each
// time to keep finding new cases.
import fc from 'fast-check';

const fromEnv = process.env.FUZZ_SEED;
const seed = fromEnv ? Number(fromEnv) : process.env.CI ? 20261123 : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
if (!Number.isInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${JSON.stringify(fromEnv)}`);
fc.configureGlobal({ seed });
