// `arrears import <kind> <file> [--skip-bad-rows] [--json]`: one .csv or .xlsx file into
// the ledger, in one transaction. Problems go to stderr; exit 2 when the file was refused.
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { describeProblem, ValidationError } from '../domain/errors.ts';
import { isImportKind } from '../domain/import-formats.ts';
import { IMPORT_KINDS, importFile, type ImportResult } from '../services/imports.ts';
import { action, printJson, withContext } from './context.ts';

function mb(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}

/** A progress bar on stderr, only for a person watching a terminal: cron logs stay clean. */
function progressBar(file: string): { update: (done: number, total: number) => void; stop: () => void } | undefined {
  if (!process.stderr.isTTY) return undefined;
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: `${file} [{bar}] {percentage}% {doneMb}/{totalMb} MB`, clearOnComplete: true, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0, { doneMb: mb(0), totalMb: mb(total) });
        started = true;
      }
      bar.update(done, { doneMb: mb(done), totalMb: mb(total) });
    },
    stop: () => bar.stop(),
  };
}

export function summary(r: ImportResult): string {
  const parts = [`${r.inserted} inserted`, `${r.updated} updated`, `${r.unchanged} unchanged`];
  if (r.skipped) parts.push(`${r.skipped} bad rows skipped`);
  return `${r.kind} from ${r.file}: ${parts.join(', ')}`;
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description(`import ${IMPORT_KINDS.join(', ')} from a .csv or .xlsx file (first row = header); all or nothing`)
    .argument('<kind>', IMPORT_KINDS.join(' | '))
    .argument('<file>', 'a .csv or .xlsx file')
    .option('--skip-bad-rows', 'import the good rows and report the bad ones instead of refusing the file')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (kind: string, file: string, opts: { skipBadRows?: boolean; json?: boolean }, cmd: Command) => {
        if (!isImportKind(kind)) throw ValidationError.of(`unknown kind "${kind}"; expected one of ${IMPORT_KINDS.join(', ')}`, { field: 'kind' });
        const bar = progressBar(file);
        let result: ImportResult;
        try {
          result = await withContext(cmd, (ctx) => importFile(ctx, kind, file, { skipBadRows: opts.skipBadRows, onProgress: bar?.update }));
        } finally {
          bar?.stop();
        }
        for (const p of result.problems) process.stderr.write(`skipped: ${describeProblem(p)}\n`);
        if (opts.json) printJson(result);
        else console.log(summary(result));
      }),
    );
}
