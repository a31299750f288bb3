// `arrears files list|show|download|retry`: the agencies' report files, their delivery
// attempts, staff downloads (txt, csv, xlsx) and an immediate retry of a delivery.
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { retryFile } from '../services/delivery.ts';
import { DOWNLOAD_FORMATS, FILE_STATUSES, getFile, listFiles, renderDownload, type DownloadFormat, type FileDetails, type FileStatus } from '../services/reports.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

const when = (d: Date | null): string => (d ? d.toISOString() : '-');

function showFile(f: FileDetails): string {
  const lines: [string, string][] = [
    ['id', String(f.id)],
    ['name', f.name],
    ['kind', f.kind],
    ['agency', f.agency],
    ['entry', f.entry ?? '(removed)'],
    ['run', f.runId === null ? '-' : `${f.runId} (report date ${f.reportDate})`],
    ['layout', f.layout],
    ['patrons', String(f.rowCount)],
    ['bytes', String(f.bytes)],
    ['sha256', f.sha256],
    ['status', f.status],
    ['attempts', String(f.attempts)],
    ['next attempt', when(f.nextAttemptAt)],
    ['delivered', when(f.deliveredAt)],
    ['created', when(f.createdAt)],
  ];
  const out = [table(lines)];
  if (f.transferAttempts.length) {
    out.push('', 'Delivery attempts');
    out.push(
      table([
        ['id', 'method', 'started', 'finished', 'result'],
        ...f.transferAttempts.map((a) => [String(a.id), a.method, when(a.startedAt), when(a.finishedAt), a.ok ? 'ok' : `failed: ${a.error}`]),
      ]),
    );
  }
  return out.join('\n');
}

/** Writes into a folder under the file's own name, or to the path given. */
function outputPath(out: string | undefined, filename: string): string {
  if (out === undefined) return filename;
  try {
    if (statSync(out).isDirectory()) return join(out, filename);
  } catch {
    /* not there yet: it is the file to write */
  }
  return out;
}

export function registerFiles(program: Command): void {
  const files = program.command('files').description("the agencies' report files: list, show, download, retry delivery");

  files
    .command('list')
    .description('report files, oldest first')
    .option('--status <status>', `only files in this state: ${FILE_STATUSES.join(', ')}`)
    .option('--agency <name>', "only this agency's files")
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { status?: string; agency?: string; json?: boolean }, cmd: Command) => {
        if (opts.status !== undefined && !FILE_STATUSES.includes(opts.status as FileStatus)) {
          throw ValidationError.of(`must be one of ${FILE_STATUSES.join(', ')}`, { field: '--status' });
        }
        await withContext(cmd, async (ctx) => {
          const list = await listFiles(ctx.database.db, { status: opts.status as FileStatus | undefined, agency: opts.agency });
          if (opts.json) return printJson(list);
          if (list.length === 0) return console.log('no files');
          console.log(
            table([
              ['id', 'name', 'kind', 'agency', 'patrons', 'status', 'attempts', 'created'],
              ...list.map((f) => [String(f.id), f.name, f.kind, f.agency, String(f.rowCount), f.status, String(f.attempts), when(f.createdAt)]),
            ]),
          );
        });
      }),
    );

  files
    .command('show <file>')
    .description('one file by id or name: what it holds, its sha256 and every delivery attempt')
    .option('--json', 'as JSON')
    .action(
      action(async (key: string, opts: { json?: boolean }, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const f = await getFile(ctx.database.db, key);
          if (opts.json) printJson(f);
          else console.log(showFile(f));
        });
      }),
    );

  files
    .command('download <file>')
    .description('write a file (by id or name) as stored (txt), or as csv or xlsx for a spreadsheet')
    .option('--format <format>', `${DOWNLOAD_FORMATS.join(', ')}`, 'txt')
    .option('--out <path>', 'file or folder to write to (default: the file name, in the current folder)')
    .action(
      action(async (key: string, opts: { format: string; out?: string }, cmd: Command) => {
        if (!DOWNLOAD_FORMATS.includes(opts.format as DownloadFormat)) {
          throw ValidationError.of(`must be one of ${DOWNLOAD_FORMATS.join(', ')}`, { field: '--format' });
        }
        await withContext(cmd, async (ctx) => {
          const f = await getFile(ctx.database.db, key);
          const download = await renderDownload(ctx.database.db, f.id, opts.format as DownloadFormat);
          const path = outputPath(opts.out, download.filename);
          writeFileSync(path, download.body);
          console.log(`wrote ${path} (${download.body.length} bytes)`);
        });
      }),
    );

  files
    .command('retry <file>')
    .description('try to deliver a file (by id or name) now, whatever its schedule')
    .action(
      action(async (key: string, _opts: unknown, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const f = await getFile(ctx.database.db, key);
          const r = await retryFile(ctx, f.id);
          if (r.ok) {
            console.log(`delivered ${r.name} by ${r.method} to ${r.remote} (attempt ${r.attempts})`);
            return;
          }
          process.stderr.write(`attempt ${r.attempts} to send ${r.name} by ${r.method} failed: ${r.error}\n`);
          process.stderr.write(`it stays queued; next attempt at ${when(r.nextAttemptAt)}\n`);
          process.exitCode = 1;
        });
      }),
    );
}
