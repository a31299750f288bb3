// Checks that hold for every ledger, whatever wrote it.
import { sql } from 'kysely';
import type { Database } from '../../src/db/connection.ts';

/** Charges whose paid_cents (kept by the triggers of migration 170) differs from the sum of their allocations. */
export async function paidMismatches(database: Database): Promise<{ id: string; paid: number; allocated: number }[]> {
  const { rows } = await sql<{ id: string; paid: number; allocated: number }>`
    select c.id, c.paid_cents as paid, coalesce(a.cents, 0)::bigint as allocated
    from charges c
    left join (select charge_id, sum(amount_cents) as cents from allocations group by charge_id) a on a.charge_id = c.id
    where c.paid_cents <> coalesce(a.cents, 0)
    order by c.id`.execute(database.db);
  return rows;
}
