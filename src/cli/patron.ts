// `arrears patron <id> [--json]`: one patron's ledger: flags, charges with what is still
// outstanding, payments and how they were applied, referrals and their history.
import type { Command } from 'commander';
import { formatMoney } from '../domain/money.ts';
import { patronLedger, patronLedgerJson, type PatronLedger } from '../services/ledger.ts';
import { action, printJson, withContext } from './context.ts';

/** Left-aligned text columns, right-aligned where a column holds amounts. */
function table(headers: string[], rows: string[][], rightAligned: number[] = []): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

export function renderLedger(l: PatronLedger): string {
  const p = l.patron;
  const flags = [l.flags.status, l.flags.inCollections ? 'in collections' : 'not in collections', ...(l.flags.blocked ? ['blocked'] : [])];
  const out: string[] = [
    `Patron ${p.id}  ${[p.firstName, p.lastName].filter(Boolean).join(' ')}`.trimEnd(),
    `  barcode ${p.barcode || '-'}, home library ${p.homeLibrary}, ptype ${p.ptype}, patron code ${p.patronCode || '-'}` +
      (p.adultOrChild ? `, adult or child ${p.adultOrChild}` : ''),
    `  ${flags.join(', ')}`,
    `  balance ${formatMoney(l.outstandingCents)}`,
  ];
  // Contact details only when the patron has some: many imports carry none.
  const address = [p.address, p.address2, [p.city, p.state, p.postalCode].filter(Boolean).join(' ')].filter(Boolean).join(', ');
  if (address) out.push(`  address ${address}`);
  const reach: [string, string][] = [['phone', p.phone], ['mobile', p.mobile], ['alt phone 1', p.altPhone1], ['alt phone 2', p.altPhone2], ['email', p.email]];
  const contact = reach.filter(([, v]) => v !== '').map(([k, v]) => `${k} ${v}`);
  if (contact.length) out.push(`  ${contact.join(', ')}`);
  out.push('');
  out.push(`Charges (${l.charges.length})`);
  if (l.charges.length) {
    out.push(
      ...table(
        ['id', 'assessed on', 'library', 'reason', 'item', 'amount', 'outstanding'],
        l.charges.map((c) => [c.id, c.assessedOn, c.library, c.reason, c.itemId ?? '', formatMoney(c.amountCents), formatMoney(c.outstandingCents)]),
        [5, 6],
      ).map((s) => `  ${s}`),
    );
  }
  out.push('', `Payments (${l.payments.length})`);
  if (l.payments.length) {
    out.push(
      ...table(
        ['id', 'paid at', 'type', 'method', 'amount', 'applied to'],
        l.payments.map((x) => [
          x.id,
          x.paidAt.toISOString(),
          x.type,
          x.method,
          formatMoney(x.amountCents),
          x.allocations.map((a) => `${a.chargeId} ${formatMoney(a.amountCents)}`).join(', '),
        ]),
        [4],
      ).map((s) => `  ${s}`),
    );
  }
  if (l.items.length) {
    out.push('', `Linked items (${l.items.length})`);
    out.push(...table(['id', 'barcode', 'status', 'due', 'title'], l.items.map((i) => [i.id, i.barcode, i.status, i.dueDate ?? '', i.title])).map((s) => `  ${s}`));
  }
  out.push('', `Referrals (${l.referrals.length})`);
  for (const r of l.referrals) {
    out.push(
      `  #${r.id} ${r.agency}: ${r.status}, referred ${r.referredOn}${r.closedOn ? `, closed ${r.closedOn}` : ''}; ` +
        `referred ${formatMoney(r.referredCents)} (fee ${formatMoney(r.feeCents)}), last reported ${formatMoney(r.lastReportedCents)}`,
    );
    if (r.history.length) {
      out.push(
        ...table(
          ['type', 'amount', 'report date', 'reason', 'at', 'by'],
          r.history.map((h) => [h.type, formatMoney(h.amountCents), h.reportDate ?? '', h.reason, h.at.toISOString(), h.actor]),
          [1],
        ).map((s) => `    ${s}`),
      );
    }
  }
  return out.join('\n');
}

export function registerPatron(program: Command): void {
  program
    .command('patron')
    .description("show a patron's ledger: balance, flags, charges, payments, referrals and their history")
    .argument('<id>', 'patron id')
    .option('--json', 'print the ledger as JSON (amounts as decimal strings)')
    .action(
      action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
        const ledger = await withContext(cmd, (ctx) => patronLedger(ctx.database.db, id));
        if (opts.json) printJson(patronLedgerJson(ledger));
        else console.log(renderLedger(ledger));
      }),
    );
}
