// Writing the collections block into Koha, as Koha itself would: a restriction in
// borrower_debarments with borrowers.debarred / debarredcomment recomputed (Koha derives
// them in its Perl code, not in the database, so a row inserted alone would leave the patron
// unblocked at the desk), and the agency fee as a debit with its CREATE offset. Each write is
// one Koha transaction, or one savepoint of a batch's transaction (one commit for many
// writes). Only the tables the least-privilege user may write are touched.
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { formatMoney } from '../../domain/money.ts';
import { localDateOf } from '../../domain/dates.ts';
import { feeMarker, fill } from '../common.ts';
import { IlsUnavailable } from '../errors.ts';
import { WriteRefused, type AppliedWrite, type ConnectorConfig, type WriteIntent } from '../types.ts';

export const DEFAULT_COMMENT = 'Sent to collections ({agency}) on {date}';
export const DEFAULT_FEE_DESCRIPTION = 'Collection agency fee ({agency})';

/** One write: its own transaction, or inside a batch's (`grouped`) a savepoint that a refusal rolls back alone. */
export async function applyKohaWrite(conn: Connection, config: ConnectorConfig, w: WriteIntent, now: Date, grouped = false): Promise<AppliedWrite> {
  const borrowernumber = Number(w.patronKey);
  if (!Number.isSafeInteger(borrowernumber)) throw new WriteRefused(`"${w.patronKey}" is not a Koha borrowernumber`);
  if (grouped) {
    await conn.query('SAVEPOINT arrears_write');
    try {
      const result = await write(conn, config, w, borrowernumber, now);
      await conn.query('RELEASE SAVEPOINT arrears_write');
      return result;
    } catch (err) {
      // Whatever failed, none of this write stays in the batch's transaction: a restriction
      // without its flags, or a fee without its offset, must never be committed by the others.
      try {
        await conn.query('ROLLBACK TO SAVEPOINT arrears_write');
      } catch (lost) {
        // InnoDB rolls the whole transaction back on a deadlock (and a lock wait timeout may):
        // the savepoint is gone with the writes before it. The batch is retried as a whole.
        throw new IlsUnavailable(`Koha rolled back the write-back batch (${(err as Error).message}; ${(lost as Error).message}): it is retried`);
      }
      throw refusal(err);
    }
  }
  await conn.beginTransaction();
  try {
    const result = await write(conn, config, w, borrowernumber, now);
    await conn.commit();
    return result;
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    throw refusal(err);
  }
}

/** MariaDB's strict-mode refusals of a value (too long, out of range, not valid, NULL): the same write would fail again. */
const BAD_VALUE = new Set([1048, 1264, 1265, 1366, 1406]);

function refusal(err: unknown): unknown {
  if (err instanceof WriteRefused || !BAD_VALUE.has((err as { errno?: number }).errno ?? 0)) return err;
  return new WriteRefused(`Koha refused a value: ${(err as Error).message} (check the connector's options)`);
}

async function write(conn: Connection, config: ConnectorConfig, w: WriteIntent, borrowernumber: number, now: Date): Promise<AppliedWrite> {
  const today = localDateOf(now, config.timeZone);
  if (w.kind === 'lift') {
    if (!w.blockRef) return { ilsRef: null, detail: { lifted: false, why: 'no restriction was placed' } };
    // Only the restriction Arrears placed, found by its id: never one that staff added. Koha's
    // patron merge moves restrictions to the patron kept, so the row is lifted where it is now.
    const id = Number(w.blockRef);
    const [held] = await conn.query<RowDataPacket[]>('SELECT borrowernumber FROM borrower_debarments WHERE borrower_debarment_id = ?', [id]);
    const holder = held[0] ? Number(held[0].borrowernumber) : borrowernumber;
    const [r] = await conn.query<ResultSetHeader>('DELETE FROM borrower_debarments WHERE borrower_debarment_id = ?', [id]);
    const flags = await updateDebarmentFlags(conn, holder, today);
    if (holder !== borrowernumber) await updateDebarmentFlags(conn, borrowernumber, today);
    const moved = holder !== borrowernumber ? { liftedFrom: holder } : {};
    return { ilsRef: w.blockRef, detail: { lifted: r.affectedRows > 0, borrower_debarment_id: id, ...moved, ...flags } };
  }

  if (w.kind === 'block') {
    const type = config.options.restrictionType ?? 'MANUAL';
    const comment = fill(config.options.comment ?? DEFAULT_COMMENT, w);
    let id: number | null = null;
    if (w.recovering) {
      // An earlier attempt may have committed in Koha before Arrears recorded it.
      const [found] = await conn.query<RowDataPacket[]>(
        'SELECT borrower_debarment_id FROM borrower_debarments WHERE borrowernumber = ? AND type = ? AND comment = ? AND expiration IS NULL ORDER BY borrower_debarment_id DESC LIMIT 1',
        [borrowernumber, type, comment],
      );
      id = found[0] ? Number(found[0].borrower_debarment_id) : null;
    }
    if (id === null) {
      try {
        const [r] = await conn.query<ResultSetHeader>('INSERT INTO borrower_debarments (borrowernumber, expiration, type, comment, manager_id) VALUES (?, NULL, ?, ?, NULL)', [borrowernumber, type, comment]);
        id = r.insertId;
      } catch (err) {
        // 1452: a foreign key refused it: the patron is gone, or the type is not in restriction_types — not for a retry.
        if ((err as { errno?: number }).errno === 1452) {
          throw new WriteRefused(/FOREIGN KEY \(`type`\)/.test((err as Error).message) ? `Koha has no restriction type "${type}" (restriction_types.code)` : `Koha has no patron ${borrowernumber} (deleted?)`);
        }
        throw err;
      }
    }
    const flags = await updateDebarmentFlags(conn, borrowernumber, today);
    return { ilsRef: String(id), detail: { borrower_debarment_id: id, type, comment, ...flags } };
  }

  const [patron] = await conn.query<RowDataPacket[]>('SELECT borrowernumber, branchcode FROM borrowers WHERE borrowernumber = ?', [borrowernumber]);
  if (!patron[0]) throw new WriteRefused(`Koha has no patron ${borrowernumber} (deleted?)`);

  // fee
  const cents = w.amountCents ?? 0;
  if (cents <= 0) throw new WriteRefused('the agency fee is not more than 0.00');
  const marker = feeMarker(w, config.name);
  const [existing] = await conn.query<RowDataPacket[]>('SELECT accountlines_id FROM accountlines WHERE borrowernumber = ? AND note = ? LIMIT 1', [borrowernumber, marker]);
  if (existing[0]) {
    // Posted by an attempt Arrears did not hear back from: its CREATE offset with it, as Koha writes one for every debit.
    const posted = Number(existing[0].accountlines_id);
    const [offset] = await conn.query<RowDataPacket[]>("SELECT 1 FROM account_offsets WHERE debit_id = ? AND type = 'CREATE' LIMIT 1", [posted]);
    if (!offset[0]) await conn.query("INSERT INTO account_offsets (credit_id, debit_id, type, amount) SELECT NULL, accountlines_id, 'CREATE', amount FROM accountlines WHERE accountlines_id = ?", [posted]);
    return { ilsRef: String(posted), detail: { accountlines_id: posted, alreadyPosted: true } };
  }
  const debitType = config.options.feeType ?? 'MANUAL';
  const description = fill(config.options.feeDescription ?? DEFAULT_FEE_DESCRIPTION, w);
  const amount = formatMoney(cents);
  let id: number;
  try {
    const [r] = await conn.query<ResultSetHeader>(
      `INSERT INTO accountlines (borrowernumber, date, amount, amountoutstanding, description, note, debit_type_code, interface, branchcode, manager_id, status)
       VALUES (?, UTC_TIMESTAMP(), ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`,
      [borrowernumber, amount, amount, description, marker, debitType, config.options.interface ?? 'cron', patron[0].branchcode],
    );
    id = r.insertId;
  } catch (err) {
    if ((err as { errno?: number }).errno === 1452) throw new WriteRefused(`Koha has no debit type "${debitType}" (account_debit_types.code)`);
    throw err;
  }
  await conn.query("INSERT INTO account_offsets (credit_id, debit_id, type, amount) VALUES (NULL, ?, 'CREATE', ?)", [id, amount]);
  return { ilsRef: String(id), detail: { accountlines_id: id, debit_type_code: debitType, amount, description } };
}

/**
 * borrowers.debarred and debarredcomment recomputed from the patron's restrictions still in
 * force (no expiration, or one after today in Koha's zone), as Koha's
 * UpdateBorrowerDebarmentFlags does: 9999-12-31 when any is indefinite, else the latest
 * expiration; the comments joined by newlines; both NULL when none is in force. One
 * statement, so the patron row never shows a half-done state. The comment is cut to the
 * column's 255 characters, as Koha's non-strict session would.
 */
export async function updateDebarmentFlags(conn: Connection, borrowernumber: number, today: string): Promise<{ debarred: string | null; debarredcomment: string | null }> {
  const active = 'd.borrowernumber = b.borrowernumber AND (d.expiration IS NULL OR d.expiration > ?)';
  await conn.query(
    `UPDATE borrowers b SET
       debarred = (SELECT CASE WHEN COUNT(*) = 0 THEN NULL WHEN SUM(d.expiration IS NULL) > 0 THEN '9999-12-31' ELSE MAX(d.expiration) END
                   FROM borrower_debarments d WHERE ${active}),
       debarredcomment = (SELECT LEFT(GROUP_CONCAT(d.comment ORDER BY d.borrower_debarment_id SEPARATOR '\\n'), 255)
                          FROM borrower_debarments d WHERE ${active})
     WHERE b.borrowernumber = ?`,
    [today, today, borrowernumber],
  );
  const [rows] = await conn.query<RowDataPacket[]>('SELECT debarred, debarredcomment FROM borrowers WHERE borrowernumber = ?', [borrowernumber]);
  return { debarred: (rows[0]?.debarred as string | null) ?? null, debarredcomment: (rows[0]?.debarredcomment as string | null) ?? null };
}
