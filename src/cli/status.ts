// `arrears status [--json]`: what needs attention now (services/attention.ts), for the system
// administrator and for cron or a monitoring check: exit 0 when nothing is failing or late, 4
// when something is (files held for review are staff work, listed but not counted).
import type { Command } from 'commander';
import { needsAttention, type AttentionItem } from '../services/attention.ts';
import { action, printJson, withContext } from './context.ts';

/** The exit code of `arrears status` when an error or warning is listed. */
export const NEEDS_ATTENTION_EXIT = 4;

const SCREEN_HINT: Record<AttentionItem['screen'], string> = {
  connectors: 'arrears connectors list / writes',
  files: 'arrears files list',
  review: "the staff app's Review screen; arrears exclusions add",
  schedule: 'arrears schedule status',
};

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('what needs attention: failed syncs and write-backs, stale ILS data, failing deliveries, files held for review, late scheduled runs')
    .option('--json', 'print the list as JSON')
    .action(
      action(async function (this: Command) {
        const items = await withContext(this, (ctx) => needsAttention(ctx));
        if (this.opts<{ json?: boolean }>().json) printJson({ items });
        else if (items.length === 0) console.log('Nothing needs attention.');
        else for (const i of items) console.log(`${i.level.padEnd(7)}  ${i.subject}: ${i.message}${i.since ? ` (since ${i.since.toISOString()})` : ''}  [${SCREEN_HINT[i.screen]}]`);
        if (items.some((i) => i.level !== 'notice')) process.exitCode = NEEDS_ATTENTION_EXIT;
      }),
    );
}
