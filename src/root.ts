// The project folder (the one holding package.json), for the files that ship beside the code:
// the SQL migrations, the staff app's build, package.json. Found by walking up from this
// module, so they resolve the same from the sources (src/, run by tsx and vitest) and from
// the compiled build (dist/, where esbuild puts this module in a chunk at another depth).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}: is this an Arrears checkout?`);
  }
}

export const ROOT: string = findRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the project, e.g. projectPath('src', 'db', 'migrations'). */
export function projectPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}
