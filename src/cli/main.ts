#!/usr/bin/env node
// The `arrears` command: a thin layer that parses, calls a service and prints.
import { Command } from 'commander';
import { action, withContext } from './context.ts';
import { migrate } from '../db/migrate.ts';

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
const registrars: Array<(p: Command) => void> = [];
for (const register of registrars) register(program);

await program.parseAsync(process.argv);
