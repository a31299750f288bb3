// Review before sending: exclusions the engine honours, and "Exclude now" on a New
// Submissions file held for review (the referral cancelled, the fee taken back, the file
// rebuilt without the patron, and released when its review time is over).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { asDate } from '../src/domain/dates.ts';
import { addAgency } from '../src/services/agencies.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { deliverDueFiles } from '../src/services/delivery.ts';
import { explainPatron } from '../src/services/eligibility.ts';
import { EXCLUDED_AT_REVIEW, addExclusion, liftExclusion, listExclusions, listHeldFiles, releaseHeldFiles } from '../src/services/exclusions.ts';
import { loadEntries } from '../src/services/settings.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

let t: TestDatabase;
let s: Scenario;
let folder: string;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
  folder = mkdtempSync(join(tmpdir(), 'arrears-review-'));
});
afterAll(async () => {
  rmSync(folder, { recursive: true, force: true });
  await t.dispose();
});
beforeEach(async () => {
  await s.reset();
  rmSync(folder, { recursive: true, force: true });
  folder = mkdtempSync(join(tmpdir(), 'arrears-review-'));
  await s.libraries({ code: 'MAIN' });
  await s.agency('UMS');
  await s.patrons({ id: 'P1' }, { id: 'P2' }, { id: 'P3' });
  await s.charges(
    { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' },
    { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '30.00', assessed_at: '2025-05-02T10:00:00' },
    { id: 'C3', patron_id: 'P2', reason: 'overdue', amount: '2.50', assessed_at: '2025-05-03T10:00:00' },
    { id: 'C4', patron_id: 'P3', reason: 'replacement', amount: '26.00', assessed_at: '2025-05-04T10:00:00' },
  );
});

function staff(at: string): Context {
  return { database: t, clock: fixedClock(at), actor: 'reviewer' };
}

async function referred(): Promise<string[]> {
  return s.referred();
}

describe('exclusions the engine honours', () => {
  it('an excluded patron is not submitted in the next run, and explain says why', async () => {
    await s.settings({});
    await addExclusion(staff('2025-06-01T12:00:00Z'), { patronId: 'P2', reason: 'disputed bill' });
    const run = await s.run('2025-06-02');
    expect(run.newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P3']);
    const x = await explainPatron(t.db, await loadEntries(t.db), 'P2', asDate('2025-06-02'));
    expect(x.evaluation.eligible).toBe(false);
    expect(x.evaluation.conditions.find((c) => c.key === 'not_excluded')).toMatchObject({ pass: false, measured: 'excluded indefinitely (disputed bill)' });
    expect(x.agrees).toBe(true);
  });

  it('an exclusion blocks through its until date and no longer after it', async () => {
    await s.settings({});
    await addExclusion(staff('2025-06-01T12:00:00Z'), { patronId: 'P1', reason: 'payment plan', until: '2025-06-10' });
    expect((await s.run('2025-06-10', { dryRun: true })).newSubmissions.map((n) => n.patronId)).toEqual(['P2', 'P3']);
    expect((await s.run('2025-06-11', { dryRun: true })).newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P2', 'P3']);
  });

  it('a lifted exclusion no longer blocks; it records who lifted it and cannot be lifted twice', async () => {
    await s.settings({});
    const { exclusion } = await addExclusion(staff('2025-06-01T12:00:00Z'), { patronId: 'P3', reason: 'deceased?' });
    expect((await s.run('2025-06-02', { dryRun: true })).newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P2']);
    const lifted = await liftExclusion(staff('2025-06-02T12:00:00Z'), exclusion.id);
    expect(lifted).toMatchObject({ id: exclusion.id, liftedBy: 'reviewer', active: false, liftedAt: new Date('2025-06-02T12:00:00Z') });
    expect((await s.run('2025-06-03')).newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P2', 'P3']);
    await expect(liftExclusion(staff('2025-06-03T12:00:00Z'), exclusion.id)).rejects.toMatchObject({ name: 'ConflictError', message: expect.stringContaining('already lifted by reviewer') });
  });

  it('lists exclusions newest first, in force or ended as of today in the patron’s zone', async () => {
    const ctx = staff('2025-06-01T12:00:00Z');
    const a = (await addExclusion(ctx, { patronId: 'P1', reason: 'short', until: '2025-06-05' })).exclusion;
    const b = (await addExclusion(ctx, { patronId: 'P2', reason: 'open-ended' })).exclusion;
    await liftExclusion(ctx, b.id);
    const c = (await addExclusion(ctx, { patronId: 'P3', reason: 'long', until: '2025-12-31' })).exclusion;
    const later = staff('2025-06-06T12:00:00Z');
    expect((await listExclusions(later)).items.map((x) => [x.id, x.active])).toEqual([
      [c.id, true],
      [b.id, false],
      [a.id, false],
    ]);
    expect(await listExclusions(later, { state: 'active' })).toMatchObject({ total: 1, items: [{ id: c.id, patronId: 'P3', patronName: 'Pat Ron P3', createdBy: 'reviewer' }] });
    expect((await listExclusions(later, { state: 'ended', limit: 1 })).total).toBe(2);
    expect((await listExclusions(later, { patronId: 'P1' })).items.map((x) => x.id)).toEqual([a.id]);
  });

  it('refuses bad input by field, an unknown patron, and an until date already past', async () => {
    const ctx = staff('2025-06-10T12:00:00Z');
    await expect(addExclusion(ctx, { patronId: ' ', reason: ' ', until: '2025-02-30' })).rejects.toMatchObject({
      problems: [
        { field: 'patronId', reason: 'is required' },
        { field: 'reason', reason: 'is required: say why the patron must not be sent' },
        { field: 'until', reason: '"2025-02-30" is not a date (YYYY-MM-DD)' },
      ],
    });
    await expect(addExclusion(ctx, { patronId: 'NOPE', reason: 'x' })).rejects.toMatchObject({ name: 'NotFoundError' });
    // 2025-06-10T12:00Z is still June 10 in Chicago: until June 9 is past, June 10 is not.
    await expect(addExclusion(ctx, { patronId: 'P1', reason: 'x', until: '2025-06-09' })).rejects.toMatchObject({ problems: [{ field: 'until' }] });
    expect((await addExclusion(ctx, { patronId: 'P1', reason: 'x', until: '2025-06-10' })).exclusion.untilDate).toBe('2025-06-10');
    const audit = await t.db.selectFrom('audit_log').select(['actor', 'action', 'after']).where('action', '=', 'exclusion.create').execute();
    expect(audit).toEqual([{ actor: 'reviewer', action: 'exclusion.create', after: { patronId: 'P1', reason: 'x', until: '2025-06-10' } }]);
  });
});

describe('review before sending', () => {
  const RUN_AT = '2025-06-02T13:00:00Z';

  async function heldRun(entry: Record<string, unknown> = {}) {
    await addAgency(s.context(), { name: 'Drop', transferMethod: 'folder', transferConfig: { path: folder } });
    await s.settings({ agency: 'Drop', agencyFee: '10.00', reviewHours: 24, ...entry });
    return s.run('2025-06-02', {}, RUN_AT);
  }

  async function newFile() {
    return t.db.selectFrom('report_files').selectAll().where('kind', '=', 'new').executeTakeFirstOrThrow();
  }

  it('holds the New Submissions file until created_at + reviewHours, then delivery sends it', async () => {
    const run = await heldRun();
    expect(run.newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P2', 'P3']);
    const file = await newFile();
    expect(file).toMatchObject({ status: 'held', next_attempt_at: new Date('2025-06-03T13:00:00Z'), row_count: 3 });
    // The Updated Patrons file of the same run is not held.
    expect((await t.db.selectFrom('report_files').select('status').where('kind', '=', 'update').executeTakeFirstOrThrow()).status).toBe('queued');

    const held = await listHeldFiles(t.db);
    expect(held.map((f) => [f.name, f.holdUntil, f.patrons.map((p) => [p.patronId, p.referredCents, p.feeCents])])).toEqual([
      [file.name, new Date('2025-06-03T13:00:00Z'), [['P1', 5000, 1000], ['P2', 4250, 1000], ['P3', 3600, 1000]]],
    ]);

    const early = await deliverDueFiles(staff('2025-06-03T12:59:59Z'));
    expect(early.results.map((r) => r.name)).not.toContain(file.name);
    expect((await newFile()).status).toBe('held');

    const due = await deliverDueFiles(staff('2025-06-03T13:00:00Z'));
    expect(due.results.find((r) => r.name === file.name)).toMatchObject({ ok: true, status: 'delivered' });
    expect(readdirSync(folder)).toContain(file.name);
    const release = await t.db.selectFrom('audit_log').select(['actor', 'after']).where('action', '=', 'report_file.release').execute();
    expect(release).toEqual([{ actor: 'reviewer', after: { status: 'queued', early: false } }]);
  });

  it('"Exclude now" cancels the held referral, takes back its fee, and rebuilds the file without the patron', async () => {
    await heldRun();
    const before = await newFile();
    const originalText = Buffer.from(before.content).toString('utf8');
    expect(originalText).toContain('\tP2\t');

    const r = await addExclusion(staff('2025-06-02T18:00:00Z'), { patronId: 'P2', reason: 'bill disputed at review', until: '2025-09-30' });
    expect(r.cancelled).toEqual([{ referralId: expect.any(Number), agency: 'Drop', amountCents: 3250, feeRemovedCents: 1000 }]);
    expect(r.rebuilt).toEqual([{ id: before.id, name: before.name, rows: 2, removed: false }]);

    const referral = await t.db.selectFrom('referrals').selectAll().where('patron_id', '=', 'P2').executeTakeFirstOrThrow();
    expect(referral).toMatchObject({ status: 'cancelled', closed_on: '2025-06-02' });
    const history = await t.db.selectFrom('referral_history').select(['type', 'amount_cents', 'reason', 'actor']).where('patron_id', '=', 'P2').orderBy('id').execute();
    expect(history).toEqual([
      { type: 'refer', amount_cents: 4250, reason: 'new submission', actor: 'test' },
      { type: 'cancel', amount_cents: 3250, reason: EXCLUDED_AT_REVIEW, actor: 'reviewer' },
    ]);
    expect(await t.db.selectFrom('charges').select('id').where('patron_id', '=', 'P2').where('reason', '=', 'agency_fee').execute()).toEqual([]);
    expect((await t.db.selectFrom('patrons').select('in_collections').where('id', '=', 'P2').executeTakeFirstOrThrow()).in_collections).toBe(false);

    const after = await newFile();
    const text = Buffer.from(after.content).toString('utf8');
    expect(after).toMatchObject({ id: before.id, name: before.name, status: 'held', row_count: 2 });
    expect(after.sha256).not.toBe(before.sha256);
    expect(text).not.toContain('\tP2\t');
    // The others' lines are exactly as the run wrote them, in-window amounts included.
    expect(text).toBe(originalText.split('\n').filter((line) => !line.includes('\tP2\t')).join('\n'));

    // After the review time the rebuilt file is what reaches the agency.
    await deliverDueFiles(staff('2025-06-03T13:00:00Z'));
    expect(readFileSync(join(folder, before.name), 'utf8')).toBe(text);
    // The exclusion still holds in later runs.
    expect((await explainPatron(t.db, await loadEntries(t.db), 'P2', asDate('2025-06-20'))).evaluation.conditions.find((c) => c.key === 'not_excluded')?.pass).toBe(false);
  });

  it('a referral withdrawn at review does not count as an earlier referral once the exclusion is lifted', async () => {
    // The entry does not resubmit after a clear, so a real earlier referral would block for ever.
    await heldRun({ resubmitAfterClear: false });
    const { exclusion } = await addExclusion(staff('2025-06-02T18:00:00Z'), { patronId: 'P2', reason: 'checking a payment' });
    expect((await t.db.selectFrom('referrals').select(['status', 'withdrawn']).where('patron_id', '=', 'P2').executeTakeFirstOrThrow())).toEqual({ status: 'cancelled', withdrawn: true });

    await s.run('2025-06-09', {}, '2025-06-09T13:00:00Z');
    expect(await referred()).toEqual(['P1', 'P3']);

    await liftExclusion(staff('2025-06-10T15:00:00Z'), exclusion.id);
    const explained = await explainPatron(t.db, await loadEntries(t.db), 'P2', asDate('2025-06-16'));
    expect(explained.evaluation.conditions.find((c) => c.key === 'no_earlier_referral')?.pass).toBe(true);
    await s.run('2025-06-16', {}, '2025-06-16T13:00:00Z');
    expect(await referred()).toEqual(['P1', 'P2', 'P3']);
    const p2 = await t.db.selectFrom('referrals').select(['status', 'withdrawn', 'referred_on']).where('patron_id', '=', 'P2').orderBy('id').execute();
    expect(p2).toEqual([
      { status: 'cancelled', withdrawn: true, referred_on: '2025-06-02' },
      { status: 'open', withdrawn: false, referred_on: '2025-06-16' },
    ]);
  });

  it('a referral cancelled after its file left still counts for once-only', async () => {
    await heldRun({ resubmitAfterClear: false });
    await releaseHeldFiles(staff('2025-06-02T14:00:00Z'), { fileId: (await newFile()).id });
    await t.db.updateTable('referrals').set({ status: 'cancelled', closed_on: '2025-06-05' }).where('patron_id', '=', 'P2').execute();
    await s.run('2025-06-16', {}, '2025-06-16T13:00:00Z');
    expect(await t.db.selectFrom('referrals').select('status').where('patron_id', '=', 'P2').execute()).toEqual([{ status: 'cancelled' }]);
  });

  it('a patron whose file has already left is excluded without cancelling anything', async () => {
    await heldRun();
    await releaseHeldFiles(staff('2025-06-02T14:00:00Z'), { fileId: (await newFile()).id });
    expect((await newFile()).status).toBe('queued');
    const r = await addExclusion(staff('2025-06-02T15:00:00Z'), { patronId: 'P1', reason: 'too late' });
    expect(r).toMatchObject({ cancelled: [], rebuilt: [] });
    expect(await referred()).toEqual(['P1', 'P2', 'P3']);
    await expect(releaseHeldFiles(staff('2025-06-02T16:00:00Z'), { fileId: (await newFile()).id })).rejects.toMatchObject({ name: 'ConflictError' });
  });

  it('a held file left with nobody is removed when the entry does not send empty reports', async () => {
    await heldRun({ sendEmptyReports: false });
    const file = await newFile();
    const ctx = staff('2025-06-02T18:00:00Z');
    await addExclusion(ctx, { patronId: 'P1', reason: 'a' });
    await addExclusion(ctx, { patronId: 'P2', reason: 'b' });
    const last = await addExclusion(ctx, { patronId: 'P3', reason: 'c' });
    expect(last.rebuilt).toEqual([{ id: file.id, name: file.name, rows: 0, removed: true }]);
    expect(await t.db.selectFrom('report_files').select('id').where('kind', '=', 'new').execute()).toEqual([]);
    expect(await referred()).toEqual([]);
  });
});
