// `arrears backup <file>` and `arrears restore <file>`: the embedded database as one file and
// back. For PostgreSQL both say which pg_dump / pg_restore command to run instead (exit 2).
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { isPostgresUrl } from '../db/connection.ts';
import { ConflictError } from '../domain/errors.ts';
import { backupDatabase, restoreDatabase, usePgTool, type LedgerCounts } from '../services/backup.ts';
import { KEY_FILE_NAME } from '../services/secrets.ts';
import { action, databaseUrl, printJson, rootOptions, withContext } from './context.ts';

const describeCounts = (c: LedgerCounts) =>
  `${c.patrons} patrons, ${c.charges} charges, ${c.payments} payments, ${c.referrals} referrals (${c.referralHistory} history records), ${c.reportFiles} report files, ${c.recordSets} record sets`;

export function registerBackup(program: Command): void {
  program
    .command('backup <file>')
    .description('write the embedded database (and its key file) to one file; for PostgreSQL it prints the pg_dump command')
    .option('--without-key', `leave the data folder's ${KEY_FILE_NAME} out (restoring then needs ARREARS_SECRET_KEY)`)
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (file: string, opts: { withoutKey?: boolean; force?: boolean; json?: boolean }, cmd: Command) => {
        const url = databaseUrl(rootOptions(cmd).db);
        if (isPostgresUrl(url)) throw usePgTool('backup', url, file);
        if (existsSync(file) && !opts.force) throw new ConflictError(`${file} already exists; choose another name or pass --force`);
        const result = await withContext(cmd, (ctx) => backupDatabase(ctx.database, file, { url, withoutKey: opts.withoutKey }));
        if (opts.json) return printJson(result);
        console.log(`Backed up ${describeCounts(result.counts)} to ${file} (${result.bytes} bytes).`);
        if (result.includesKey) console.log(`It holds ${KEY_FILE_NAME}, which decrypts the agency credentials: keep the file as safe as the data folder.`);
        else if (result.hasSecrets) console.log(`It does not hold the key to the agency credentials: keep ARREARS_SECRET_KEY (or ${KEY_FILE_NAME}) safe separately; a restore needs it.`);
      }),
    );

  program
    .command('restore <file>')
    .description('restore a backup into the embedded data folder (--db); refuses a folder that is not empty without --force')
    .option('--force', 'replace an existing database (the old folder is kept beside it as <folder>.before-restore-<time>)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (file: string, opts: { force?: boolean; json?: boolean }, cmd: Command) => {
        const url = databaseUrl(rootOptions(cmd).db);
        const result = await restoreDatabase(file, url, { force: opts.force });
        // Opening applies any migrations newer than the backup.
        await withContext(cmd, async () => undefined);
        if (opts.json) return printJson(result);
        console.log(`Restored ${describeCounts(result.counts)} into ${result.folder}.`);
        if (result.previous) console.log(`The database that was there is kept in ${result.previous}; delete it once you are sure.`);
        if (!result.includesKey) console.log(`The backup holds no ${KEY_FILE_NAME}: set ARREARS_SECRET_KEY (or copy the key file into ${result.folder}) before delivering files.`);
      }),
    );
}
