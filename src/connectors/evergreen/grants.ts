// Least privilege, checked: what the connector's PostgreSQL role may do in Evergreen's database
// beyond what the connector ever does (README's GRANTs). A library that points Arrears at
// Evergreen's own `evergreen` role (the owner of every table) or a superuser is told so by
// `connectors test`. Pure: the role's attributes and write privileges in, the excess out.

/** What the write-back writes, and what Evergreen's triggers on it write with the writer's rights. */
const WRITES: Record<string, readonly string[]> = {
  'actor.usr_standing_penalty': ['INSERT', 'UPDATE'],
  'actor.usr_message': ['INSERT', 'UPDATE'],
  'money.collections_tracker': ['INSERT', 'DELETE'],
  'money.grocery': ['INSERT'],
  'money.billing': ['INSERT'],
  'money.materialized_billable_xact_summary': ['INSERT', 'UPDATE'],
  'money.materialized_payment_by_billing_type': ['INSERT', 'DELETE'],
};

/** Tables named in full before the rest are counted. */
const LISTED = 10;

export interface RoleFacts {
  /** Role attributes that are true: superuser, createrole, createdb, replication, bypassrls. */
  attributes: string[];
  /** Schemas (or "database") the role may CREATE in. */
  creates: string[];
  /** Each table the role may write, with the privileges (INSERT, UPDATE, DELETE, TRUNCATE). */
  writes: { table: string; privileges: string[] }[];
}

export function evergreenExcess(facts: RoleFacts, readOnly: boolean): string[] {
  if (facts.attributes.includes('superuser')) return ['superuser: every privilege on every database of the server'];
  const excess = facts.attributes.map((a) => `the ${a.toUpperCase()} attribute`);
  for (const c of facts.creates) excess.push(`CREATE on ${c === 'database' ? 'the database' : `schema ${c}`}`);
  const tables: string[] = [];
  for (const w of facts.writes) {
    const allowed = readOnly ? [] : (WRITES[w.table] ?? []);
    const extra = w.privileges.filter((p) => !allowed.includes(p));
    if (extra.length) tables.push(`${extra.join(', ')} on ${w.table}`);
  }
  excess.push(...tables.slice(0, LISTED));
  if (tables.length > LISTED) excess.push(`and writes to ${tables.length - LISTED} more tables (the role owns Evergreen's tables?)`);
  return excess;
}
