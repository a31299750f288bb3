import { describe, expect, it } from 'vitest';
import { evergreenExcess } from './grants.ts';

const README_WRITES = [
  { table: 'actor.usr_message', privileges: ['INSERT', 'UPDATE'] },
  { table: 'actor.usr_standing_penalty', privileges: ['INSERT', 'UPDATE'] },
  { table: 'money.billing', privileges: ['INSERT'] },
  { table: 'money.collections_tracker', privileges: ['INSERT', 'DELETE'] },
  { table: 'money.grocery', privileges: ['INSERT'] },
  { table: 'money.materialized_billable_xact_summary', privileges: ['INSERT', 'UPDATE'] },
  { table: 'money.materialized_payment_by_billing_type', privileges: ['INSERT', 'DELETE'] },
];

describe('evergreenExcess', () => {
  it("finds nothing beyond README's GRANTs; a read-only connector is told of every write", () => {
    expect(evergreenExcess({ attributes: [], creates: [], writes: README_WRITES }, false)).toEqual([]);
    expect(evergreenExcess({ attributes: [], creates: [], writes: README_WRITES.slice(0, 2) }, true)).toEqual(['INSERT, UPDATE on actor.usr_message', 'INSERT, UPDATE on actor.usr_standing_penalty']);
  });

  it("names a superuser once, other attributes, CREATE, and writes the connector never makes, the tenth table onwards counted", () => {
    expect(evergreenExcess({ attributes: ['superuser', 'createdb'], creates: ['database'], writes: README_WRITES }, false)).toEqual(['superuser: every privilege on every database of the server']);
    const owner = Array.from({ length: 14 }, (_, i) => ({ table: `actor.t${String(i).padStart(2, '0')}`, privileges: ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] }));
    const found = evergreenExcess({ attributes: ['createrole'], creates: ['database', 'actor'], writes: [{ table: 'money.billing', privileges: ['INSERT', 'UPDATE', 'DELETE'] }, ...owner] }, false);
    expect(found.slice(0, 5)).toEqual(['the CREATEROLE attribute', 'CREATE on the database', 'CREATE on schema actor', 'UPDATE, DELETE on money.billing', 'INSERT, UPDATE, DELETE, TRUNCATE on actor.t00']);
    expect(found).toHaveLength(3 + 10 + 1);
    expect(found.at(-1)).toBe("and writes to 5 more tables (the role owns Evergreen's tables?)");
  });
});
