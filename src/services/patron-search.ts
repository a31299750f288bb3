// Patrons as staff look them up: by the start of an id, barcode, first or last name, email,
// or a name typed as "first last" or "last, first", in any case; a page at a time, sorted by
// a column; each with what they owe now. Every clause is an indexed prefix match (migration 270).
import { sql, type Expression, type SqlBool } from 'kysely';
import type { Patron } from '../db/schema.ts';
import type { Cents } from '../domain/money.ts';
import type { Executor } from './context.ts';

export interface PatronSummary {
  id: string;
  barcode: string;
  firstName: string;
  lastName: string;
  email: string;
  homeLibrary: string;
  ptype: Patron['ptype'];
  patronCode: string;
  status: 'active' | 'secured';
  inCollections: boolean;
  balanceCents: Cents;
}

export const PATRON_SORTS = ['id', 'name', 'barcode', 'email', 'homeLibrary', 'balance'] as const;
export type PatronSort = (typeof PATRON_SORTS)[number] | `-${(typeof PATRON_SORTS)[number]}`;

export interface PatronQuery {
  /** Blank: every patron. */
  text?: string;
  sort?: PatronSort;
  limit?: number;
  offset?: number;
}

const balance = sql<number>`coalesce((select sum(c.amount_cents - c.paid_cents) from charges c where c.patron_id = p.id), 0)::bigint`;

const SORT_COLUMNS = {
  id: sql`p.id collate "C"`,
  name: sql`lower(p.last_name), lower(p.first_name)`,
  barcode: sql`p.barcode collate "C"`,
  email: sql`lower(p.email)`,
  homeLibrary: sql`p.home_library collate "C"`,
  balance,
} as const;

/** LIKE 'text%' with the text taken literally. */
function prefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The search condition; each branch can use one of the indexes of migration 270. */
function matches(text: string): Expression<SqlBool> {
  const starts = (column: string, value: string) => sql<SqlBool>`lower(${sql.ref(column)}) like ${prefix(value)}`;
  const comma = text.indexOf(',');
  if (comma >= 0) {
    const last = text.slice(0, comma).trim();
    const first = text.slice(comma + 1).trim();
    return sql<SqlBool>`(${starts('p.last_name', last)} and ${starts('p.first_name', first)})`;
  }
  const words = text.split(/\s+/);
  if (words.length > 1) {
    const [first, ...rest] = words;
    // "Mary Ann Smith" may be a first name with a space, or first and last; "van der Berg" a last name.
    return sql<SqlBool>`((${starts('p.first_name', first!)} and ${starts('p.last_name', rest.join(' '))})
      or ${starts('p.first_name', text)} or ${starts('p.last_name', text)})`;
  }
  return sql<SqlBool>`(${starts('p.id', text)} or ${starts('p.barcode', text)} or ${starts('p.last_name', text)}
    or ${starts('p.first_name', text)} or ${starts('p.email', text)})`;
}

export async function searchPatrons(db: Executor, query: PatronQuery = {}): Promise<{ items: PatronSummary[]; total: number }> {
  const text = (query.text ?? '').trim().toLowerCase();
  let q = db.selectFrom('patrons as p');
  if (text) q = q.where(matches(text));
  const total = await q.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const sort = query.sort ?? 'name';
  const key = sort.replace(/^-/, '') as keyof typeof SORT_COLUMNS;
  const direction = sql.raw(sort.startsWith('-') ? 'desc' : 'asc');
  const order = key === 'name' ? sql`lower(p.last_name) ${direction}, lower(p.first_name) ${direction}` : sql`${SORT_COLUMNS[key]} ${direction}`;
  const rows = await q
    .select(['p.id', 'p.barcode', 'p.first_name', 'p.last_name', 'p.email', 'p.home_library', 'p.ptype', 'p.patron_code', 'p.status', 'p.in_collections', balance.as('balance')])
    .orderBy(order)
    .orderBy(sql`p.id collate "C"`)
    .limit(query.limit ?? 50)
    .offset(query.offset ?? 0)
    .execute();
  return {
    items: rows.map((r) => ({
      id: r.id,
      barcode: r.barcode,
      firstName: r.first_name,
      lastName: r.last_name,
      email: r.email,
      homeLibrary: r.home_library,
      ptype: r.ptype,
      patronCode: r.patron_code,
      status: r.status,
      inCollections: r.in_collections,
      balanceCents: Number(r.balance) as Cents,
    })),
    total: Number(total.n),
  };
}
