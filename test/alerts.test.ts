// The administrator's mail of what needs attention (services/alerts.ts), through a real SMTP
// listener: sent when an item first appears, not again the same day, again after a day as a
// reminder, forgotten once fixed (so its return is news), and not counted as told when the
// relay refuses it. The server's background loop sends it.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ALERT_TO_VARIABLE, sendAttentionAlerts } from '../src/services/alerts.ts';
import { startBackgroundJobs, type BackgroundPass } from '../src/services/background.ts';
import { addConnector, removeConnector } from '../src/services/connectors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { startSmtp, type Smtp } from './helpers/servers.ts';

let t: TestDatabase;
let s: Scenario;
let smtp: Smtp;
const ctx = (at: string): Context => ({ database: t, clock: fixedClock(at), actor: 'test' });
const saved = { key: process.env.ARREARS_SECRET_KEY, smtp: process.env.ARREARS_SMTP_URL, to: process.env[ALERT_TO_VARIABLE], origin: process.env.ARREARS_ORIGIN };

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

beforeAll(async () => {
  process.env.ARREARS_SECRET_KEY = randomBytes(32).toString('base64');
  t = await freshDatabase();
  s = new Scenario(t);
  smtp = await startSmtp();
});
afterAll(async () => {
  await smtp.stop();
  await t.dispose();
  restore('ARREARS_SECRET_KEY', saved.key);
});
beforeEach(async () => {
  await s.reset();
  smtp.received.length = 0;
  process.env.ARREARS_SMTP_URL = smtp.url;
  process.env[ALERT_TO_VARIABLE] = 'it@library.org';
  process.env.ARREARS_ORIGIN = 'https://arrears.library.org';
});
afterEach(() => {
  restore('ARREARS_SMTP_URL', saved.smtp);
  restore(ALERT_TO_VARIABLE, saved.to);
  restore('ARREARS_ORIGIN', saved.origin);
});

/** A connector that has never synced: an error item until it does, or goes. Never connected to. */
const neverSynced = (at: string) => addConnector(ctx(at), { name: 'koha', kind: 'koha', url: 'mysql://arrears:secret@127.0.0.1:1/koha', timeZone: 'America/Chicago' });

describe('the attention mail', () => {
  it('goes when something first needs attention, not again that day, again after a day, and anew once fixed and back', async () => {
    expect(await sendAttentionAlerts(ctx('2026-12-04T15:00:00Z'))).toEqual({ mailed: [], to: 'it@library.org' });
    await neverSynced('2026-12-04T15:00:00Z');
    const first = await sendAttentionAlerts(ctx('2026-12-04T15:01:00Z'));
    expect(first.mailed.map((i) => i.subject)).toEqual(['connector koha']);
    expect(smtp.received).toHaveLength(1);
    const [mail] = smtp.received;
    expect(mail!.recipients).toEqual(['it@library.org']);
    expect(mail!.mail.subject).toBe('Arrears: 1 thing needs attention');
    expect(mail!.mail.text).toBe(
      [
        'New since the last mail:',
        '- error: connector koha: it has never synced; runs of its libraries wait for a first sync',
        '',
        'The whole list: `arrears status`, or the Dashboard at https://arrears.library.org.',
        'You are told again once a day while an item stays, and when a fixed one comes back.',
        '',
      ].join('\n'),
    );

    expect((await sendAttentionAlerts(ctx('2026-12-04T23:00:00Z'))).mailed).toEqual([]);
    expect(smtp.received).toHaveLength(1);

    const reminder = await sendAttentionAlerts(ctx('2026-12-05T15:01:00Z'));
    expect(reminder.mailed).toHaveLength(1);
    expect(smtp.received[1]!.mail.subject).toBe('Arrears: 1 thing needs attention (reminder)');
    expect(smtp.received[1]!.mail.text).toContain('Still needing attention:\n- error: connector koha: it has never synced; runs of its libraries wait for a first sync (reported since 2026-12-04T15:01:00.000Z)\n');

    // Fixed (here: the connector removed), then back: news again.
    await removeConnector(ctx('2026-12-05T16:00:00Z'), 'koha');
    expect((await sendAttentionAlerts(ctx('2026-12-05T16:01:00Z'))).mailed).toEqual([]);
    expect(await t.db.selectFrom('attention_alerts').selectAll().execute()).toEqual([]);
    await neverSynced('2026-12-05T16:30:00Z');
    expect((await sendAttentionAlerts(ctx('2026-12-05T16:31:00Z'))).mailed).toHaveLength(1);
    expect(smtp.received[2]!.mail.subject).toBe('Arrears: 1 thing needs attention');
  });

  it('is not sent without ARREARS_ALERT_TO, nor for staff work waiting alone', async () => {
    await neverSynced('2026-12-04T15:00:00Z');
    delete process.env[ALERT_TO_VARIABLE];
    expect(await sendAttentionAlerts(ctx('2026-12-04T15:01:00Z'))).toEqual({ mailed: [], to: null });
    expect(smtp.received).toEqual([]);

    await s.reset();
    process.env[ALERT_TO_VARIABLE] = 'it@library.org';
    await s.libraries({ code: 'MAIN' });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2026-09-01T15:00:00Z' });
    await s.agency('UMS');
    await s.settings({ ptypes: [1], reviewHours: 24 });
    await s.run('2026-12-04');
    expect((await sendAttentionAlerts(ctx('2026-12-04T09:00:00Z'))).mailed).toEqual([]);
    expect(smtp.received).toEqual([]);
  });

  it('refused by the relay, counts as not told: the next pass sends it', async () => {
    await neverSynced('2026-12-04T15:00:00Z');
    process.env.ARREARS_SMTP_URL = `smtp://${smtp.user}:wrong-password@127.0.0.1:${smtp.port}`;
    const refused = await sendAttentionAlerts(ctx('2026-12-04T15:01:00Z')).then(
      () => null,
      (err: Error) => err.message,
    );
    // The relay quotes the login it refused; the message (for the server's log) does not.
    expect(refused).toMatch(/Invalid login|Invalid username/);
    expect(refused).not.toContain('wrong-password');
    expect(await t.db.selectFrom('attention_alerts').selectAll().execute()).toEqual([]);
    process.env.ARREARS_SMTP_URL = smtp.url;
    expect((await sendAttentionAlerts(ctx('2026-12-04T15:02:00Z'))).mailed).toHaveLength(1);
    expect(smtp.received).toHaveLength(1);
  });

  it("is sent by the server's background loop, and said in its log", async () => {
    await neverSynced('2026-12-04T15:00:00Z');
    const lines: string[] = [];
    const passes: BackgroundPass[] = [];
    const jobs = startBackgroundJobs(ctx('2026-12-04T15:01:00Z'), {
      intervalMs: 3_600_000,
      scheduler: { tick: async () => ({ busy: false, ran: [], skipped: [], failed: [], synced: [] }) },
      log: (line) => lines.push(line),
      onPass: (p) => passes.push(p),
    });
    await expect.poll(() => passes.length, { timeout: 20_000 }).toBe(1);
    await jobs.stop();
    expect(passes[0]!.alerts?.mailed.map((i) => i.subject)).toEqual(['connector koha']);
    expect(lines).toContain('[alerts] mailed it@library.org: connector koha');
    expect(smtp.received).toHaveLength(1);
  });
});
