#!/usr/bin/env node
// The compiled build of the `arrears` command: esbuild bundles src/cli/main.ts and everything
// it imports from src/ into dist/ (ES modules, one chunk per lazily loaded command), so the
// command starts without transpiling TypeScript. Run by `npm run build`, and by `npm ci` and
// `npm install` (the prepare script). The staff app is built separately (`npm run build:web`).
//
// Our own code and small pure-JS libraries are bundled (fewer files for Node to load);
// packages that ship native code, WebAssembly or files beside their modules, and the big ones
// loaded only by some commands, stay in node_modules and are imported from there.
//
// dist/build-info.json lists the sources: bin/arrears.js uses the build only while none of
// them has changed since it was made.
//   node scripts/build.js [--if-possible] [outdir]
// --if-possible (the prepare script): a failed build is reported, not fatal, so an install
// still completes; the command then runs from the sources until `npm run build` succeeds.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const ifPossible = args.includes('--if-possible');
const outdir = resolve(args.find((a) => !a.startsWith('--')) ?? join(root, 'dist'));
const BUNDLED = new Set(['commander', 'kysely', 'kysely-pglite-dialect', 'pg', 'pg-copy-streams', 'csv-parse', 'csv-stringify', 'cli-progress']);
const packageName = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

const startedAt = Date.now();
rmSync(outdir, { recursive: true, force: true });
const options = {
  absWorkingDir: root,
  entryPoints: { main: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  // Bundled CommonJS (pg) calls require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __arrearsCreateRequire } from 'node:module'; const require = __arrearsCreateRequire(import.meta.url);" },
  plugins: [
    {
      name: 'externals',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:')) return { external: true };
          // Inside a bundled package its own imports are bundled too, but for pg's optional native driver.
          if (args.importer.includes(`${join('node_modules', '')}`)) return args.path === 'pg-native' ? { external: true } : undefined;
          return BUNDLED.has(packageName(args.path)) ? undefined : { external: true };
        });
      },
    },
    {
      // pg asks whether it runs in a Cloudflare Worker and, where Node has no `navigator`
      // (Node 20), finds out by constructing a fetch Response, which loads Node's whole fetch
      // implementation (~60 ms of every start). This build runs on Node only.
      name: 'pg-on-node',
      setup(b) {
        b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
          const source = readFileSync(args.path, 'utf8');
          const patched = source.replace('if (isCloudflareRuntime()) {', 'if (false) {');
          if (patched === source) console.warn(`scripts/build.js: ${args.path} has changed; pg's runtime check is left as it is`);
          return { contents: patched, loader: 'js' };
        });
      },
    },
  ],
};

let result;
try {
  result = await build(options);
} catch (error) {
  rmSync(outdir, { recursive: true, force: true });
  if (!ifPossible) throw error;
  console.warn(`scripts/build.js: the compiled build failed (${error.message.split('\n')[0]}); arrears runs from the sources through tsx until \`npm run build\` succeeds.`);
  process.exit(0);
}
const sources = Object.keys(result.metafile.inputs)
  .filter((p) => p.startsWith('src/'))
  .sort();
mkdirSync(outdir, { recursive: true });
writeFileSync(join(outdir, 'build-info.json'), JSON.stringify({ startedAt, sources }, null, 2) + '\n');
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`built ${relative(root, outdir) || '.'}/ from ${sources.length} sources in ${Date.now() - startedAt} ms (${Math.round(bytes / 1024)} KB with source maps)`);
