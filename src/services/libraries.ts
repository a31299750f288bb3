// The libraries (branches) of the consortium as staff see them: code, name and time zone, so
// the staff app can name a library wherever it shows a code.
import type { Executor } from './context.ts';

export interface LibraryRow {
  code: string;
  name: string;
  timeZone: string;
  /** Patrons whose home library it is. */
  patrons: number;
}

export async function listLibraries(db: Executor): Promise<LibraryRow[]> {
  const rows = await db
    .selectFrom('libraries as l')
    .select(['l.code', 'l.name', 'l.time_zone'])
    .select((eb) => eb.selectFrom('patrons as p').whereRef('p.home_library', '=', 'l.code').select(eb.fn.countAll<number>().as('n')).as('patrons'))
    .orderBy('l.code')
    .execute();
  return rows.map((r) => ({ code: r.code, name: r.name, timeZone: r.time_zone, patrons: Number(r.patrons ?? 0) }));
}
