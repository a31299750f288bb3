#!/usr/bin/env node
// The `arrears` command. It runs the compiled build in dist/ (scripts/build.js: `npm run build`,
// also run by `npm ci` and `npm install`), which starts at once. Without a build, or when a
// source file has changed since it was made, it runs the TypeScript sources through tsx
// instead (slower to start) and says so on stderr; ARREARS_FROM_SOURCE=1 asks for the sources
// without the notice. Either way the program runs in this process (no child), so signals from
// a service manager reach `arrears start` directly.
import { readFileSync, statSync } from 'node:fs';

const root = new URL('..', import.meta.url);

/** Why dist/ cannot be used, or null when it is the build of the sources as they are. */
function buildProblem() {
  let info;
  try {
    info = JSON.parse(readFileSync(new URL('dist/build-info.json', root), 'utf8'));
  } catch {
    return 'no compiled build in dist/';
  }
  for (const source of info.sources ?? []) {
    let changed;
    try {
      changed = statSync(new URL(source, root)).mtimeMs > info.startedAt;
    } catch {
      changed = true;
    }
    if (changed) return `${source} has changed since dist/ was built`;
  }
  return null;
}

const problem = process.env.ARREARS_FROM_SOURCE === '1' ? 'ARREARS_FROM_SOURCE=1' : buildProblem();
if (problem === null) {
  await import(new URL('dist/main.js', root).href);
} else {
  if (process.env.ARREARS_FROM_SOURCE !== '1') {
    process.stderr.write(`arrears: ${problem}; running the TypeScript sources through tsx, which starts slower. \`npm run build\` makes the build.\n`);
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('src/cli/main.ts', root).href);
}
