// Preloaded with `node --import`: appends the URL of every module the process resolves (ES
// modules) and, as it exits, every CommonJS module it required, to the file named by
// ARREARS_LOADED_MODULES. Tests use it to check that a command loads only what it needs.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import process from 'node:process';

const hook = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.ARREARS_LOADED_MODULES, result.url + '\\n');
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
process.on('exit', () => {
  const required = Object.keys(createRequire(import.meta.url).cache);
  appendFileSync(process.env.ARREARS_LOADED_MODULES, required.map((p) => `${p}\n`).join(''));
});
