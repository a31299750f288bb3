// `arrears migrate`: apply pending migrations and say which (opening the database does too).
import type { Command } from 'commander';
import { migrate } from '../db/migrate.ts';
import { action, withContext } from './context.ts';

export function registerMigrate(program: Command): void {
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
}
