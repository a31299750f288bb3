#!/usr/bin/env node
// The `arrears` command: a thin layer that parses, calls a service and prints.
import { Command, CommanderError } from 'commander';
import { action, withContext } from './context.ts';
import { migrate } from '../db/migrate.ts';
import { registerRun } from './run.ts';
import { registerSettings } from './settings.ts';
import { registerAgencies } from './agencies.ts';
import { registerImport } from './import.ts';
import { registerPatron } from './patron.ts';
import { registerDemo } from './demo.ts';
import { registerStart } from './start.ts';
import { registerExplain } from './explain.ts';
import { registerFiles } from './files.ts';
import { registerRecordsets } from './recordsets.ts';
import { registerSecondAgency } from './second-agency.ts';
import { registerUsers } from './users.ts';
import { registerExclusions } from './exclusions.ts';
import { registerFlags } from './flags.ts';
import { registerSchedule } from './schedule.ts';
import { registerBackup } from './backup.ts';
import { registerConnectors } from './connectors.ts';

const program = new Command('arrears')
  .description('Refer overdue library debt to collection agencies and follow every referral.')
  .option('--db <url>', 'postgres:// URL, a PGlite data folder, or memory:// (default: ARREARS_DATABASE_URL or ./data)');

program
  .command('migrate')
  .description('apply pending database migrations (also done on every start)')
  .action(
    action(async function (this: Command) {
      await withContext(this, async (ctx) => {
        const applied = await migrate(ctx.database);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      });
    }),
  );

// Command groups register themselves here, one line each.
const registrars: Array<(p: Command) => void> = [registerRun, registerSettings, registerAgencies, registerImport, registerPatron, registerDemo, registerStart, registerExplain, registerFiles, registerRecordsets, registerSecondAgency, registerUsers, registerExclusions, registerFlags, registerSchedule, registerBackup, registerConnectors];
for (const register of registrars) register(program);

// A mistyped command or option is bad input (exit 2), like any other; help and version exit 0.
const overrideExits = (c: Command): void => {
  c.exitOverride();
  c.commands.forEach(overrideExits);
};
overrideExits(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  process.exitCode = err.exitCode === 0 ? 0 : 2;
}
