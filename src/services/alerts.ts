// The administrator told by email when something needs attention (services/attention.ts):
// the server's background loop mails ARREARS_ALERT_TO through the site's relay
// (ARREARS_SMTP_URL) when a failure or a delay first appears, and once a day while it stays.
// Staff work waiting (a file held for review) is the Dashboard's, not mail. A mail that cannot
// be sent is tried again on the next pass: nothing counts as told until the relay took it.
import { withSessionLock } from '../db/locks.ts';
import type { Context } from './context.ts';
import { needsAttention, type AttentionItem } from './attention.ts';
import { scrubSecrets } from './secrets.ts';
import { defaultFrom, smtpPassword, smtpTransport } from './transfer/email.ts';

export const ALERT_TO_VARIABLE = 'ARREARS_ALERT_TO';
/** An item still there this long after it was last mailed is mailed again. */
export const REMIND_AFTER_MS = 24 * 60 * 60_000;

export interface AlertMail {
  to: string;
  subject: string;
  text: string;
}

export interface AlertReport {
  /** The items mailed this time (new, or due a reminder); empty when nothing was sent. */
  mailed: AttentionItem[];
  to: string | null;
}

/** The mail for the items due: new ones first, then those still there, each with since when. */
export function alertMail(to: string, due: readonly { item: AttentionItem; firstSeen: Date | null }[], origin: string | undefined, system: string): AlertMail {
  const fresh = due.filter((d) => d.firstSeen === null);
  const still = due.filter((d) => d.firstSeen !== null);
  const line = (d: { item: AttentionItem; firstSeen: Date | null }) =>
    `- ${d.item.level}: ${d.item.subject}: ${d.item.message}${d.firstSeen ? ` (reported since ${d.firstSeen.toISOString()})` : d.item.since ? ` (since ${d.item.since.toISOString()})` : ''}`;
  const text = [
    ...(fresh.length ? [`New since the last mail:`, ...fresh.map(line), ''] : []),
    ...(still.length ? [`Still needing attention:`, ...still.map(line), ''] : []),
    `The whole list: \`arrears status\`${origin ? `, or the Dashboard at ${origin}` : ", or the staff app's Dashboard"}.`,
    'You are told again once a day while an item stays, and when a fixed one comes back.',
  ].join('\n');
  const count = due.length === 1 ? '1 thing needs' : `${due.length} things need`;
  return { to, subject: `${system}: ${count} attention${fresh.length ? '' : ' (reminder)'}`, text };
}

async function sendBySmtp(mail: AlertMail): Promise<void> {
  const transport = await smtpTransport(`mailing ${ALERT_TO_VARIABLE}`);
  try {
    await transport.sendMail({ from: defaultFrom(), to: mail.to, subject: mail.subject, text: mail.text });
  } catch (err) {
    // A relay may quote the login it refused: the error goes to the server's log, scrubbed, and
    // without the original as its cause, which would carry the password along.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(scrubSecrets(err instanceof Error ? err.message : String(err), [smtpPassword(process.env.ARREARS_SMTP_URL) ?? '']));
  } finally {
    transport.close();
  }
}

/**
 * Mails what is new or due a reminder, then records it as told; forgets what is gone. Without
 * ARREARS_ALERT_TO it does nothing. `send` is the relay (tests give the real one too, through
 * ARREARS_SMTP_URL; the parameter lets the server's loop be driven without mail).
 */
export async function sendAttentionAlerts(ctx: Context, options: { to?: string; send?: (mail: AlertMail) => Promise<void> } = {}): Promise<AlertReport> {
  const to = (options.to ?? process.env[ALERT_TO_VARIABLE] ?? '').trim();
  if (!to) return { mailed: [], to: null };
  // Servers sharing the database take turns: the second reads what the first recorded as told.
  return withSessionLock(ctx.database, 'alerts', () => mailDue(ctx, to, options.send ?? sendBySmtp));
}

async function mailDue(ctx: Context, to: string, send: (mail: AlertMail) => Promise<void>): Promise<AlertReport> {
  const { db } = ctx.database;
  const now = ctx.clock.now();
  // One item per key (two items never share one; this keeps the record's insert safe if they did).
  const items = [...new Map((await needsAttention(ctx)).filter((i) => i.level !== 'notice').map((i) => [i.key, i])).values()];
  const told = new Map((await db.selectFrom('attention_alerts').selectAll().execute()).map((r) => [r.key, r]));
  const current = new Set(items.map((i) => i.key));
  const gone = [...told.keys()].filter((k) => !current.has(k));
  if (gone.length) await db.deleteFrom('attention_alerts').where('key', 'in', gone).execute();

  const due = items.flatMap((item): { item: AttentionItem; firstSeen: Date | null }[] => {
    const row = told.get(item.key);
    if (!row) return [{ item, firstSeen: null }];
    return now.getTime() - new Date(row.last_sent_at).getTime() >= REMIND_AFTER_MS ? [{ item, firstSeen: new Date(row.first_seen_at) }] : [];
  });
  if (due.length === 0) return { mailed: [], to };
  const origin = process.env.ARREARS_ORIGIN?.split(',')[0]?.trim() || undefined;
  await send(alertMail(to, due, origin, process.env.ARREARS_LIBRARY_SYSTEM || 'Arrears'));
  await db
    .insertInto('attention_alerts')
    .values(due.map((d) => ({ key: d.item.key, first_seen_at: d.firstSeen ?? now, last_sent_at: now })))
    .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ last_sent_at: eb.ref('excluded.last_sent_at') })))
    .execute();
  return { mailed: due.map((d) => d.item), to };
}
