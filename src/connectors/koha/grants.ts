// Least privilege, checked: what the connector's MariaDB/MySQL user may do beyond what the
// connector ever does (README's GRANTs), read from SHOW GRANTS. A library that points Arrears
// at Koha's own database user (ALL PRIVILEGES on the Koha database) is told so by `connectors
// test`. Pure: the grant lines in, the excess out, as staff read it.

/** What the write-back writes: table → the privileges and, for an UPDATE, the columns it may touch. */
const WRITES: Record<string, { privileges: readonly string[]; columns?: readonly string[] }> = {
  borrower_debarments: { privileges: ['INSERT', 'UPDATE', 'DELETE'] },
  borrowers: { privileges: ['UPDATE'], columns: ['debarred', 'debarredcomment'] },
  accountlines: { privileges: ['INSERT'] },
  account_offsets: { privileges: ['INSERT'] },
};

/** Splits at commas outside parentheses: "UPDATE (a, b), SELECT" → ["UPDATE (a, b)", "SELECT"]. */
function splitTop(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      out.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(text.slice(start).trim());
  return out.filter(Boolean);
}

/** A name as SHOW GRANTS writes it: backquoted, with "_" and "%" escaped in a database grant (koha\\_library). */
const unquote = (name: string) => name.replace(/`/g, '').replace(/\\([_%])/g, '$1');

/**
 * The privileges in `grants` (SHOW GRANTS FOR CURRENT_USER() lines) the connector never needs
 * on `database`: anything global but USAGE, anything on another database, on Koha's database
 * anything but SELECT and the write-back's own (none for a read-only connector).
 */
export function kohaExcess(grants: readonly string[], database: string, readOnly: boolean): string[] {
  const excess: string[] = [];
  for (const line of grants) {
    // Not grants: the role a session starts with (MariaDB), a partial revoke (MySQL 8).
    if (/^(SET DEFAULT ROLE|REVOKE) /i.test(line)) continue;
    const m = /^GRANT (.+?) ON (?:(?:TABLE|PROCEDURE|FUNCTION|PACKAGE(?: BODY)?) )?(\S+) TO /i.exec(line);
    if (!m) {
      // A role granted (its privileges are the role's), or anything else this parser does not know.
      const role = /^GRANT (\S+) TO /i.exec(line);
      excess.push(role ? `the role ${unquote(role[1]!)} (check what it grants)` : line.replace(/ TO .*$/i, ''));
      continue;
    }
    const target = unquote(m[2]!);
    const [db, table] = target.split('.') as [string, string | undefined];
    const ours = db === database;
    const wanted = ours && table && table !== '*' ? WRITES[table] : undefined;
    for (const p of splitTop(m[1]!)) {
      const [, rawName, cols] = /^([A-Z ]+?)\s*(?:\((.*)\))?$/i.exec(p) ?? [];
      const name = (rawName ?? p).toUpperCase();
      if (name === 'USAGE') continue;
      const columns = cols ? cols.split(',').map((c) => unquote(c.trim())) : undefined;
      if (name === 'SELECT' && ours) continue;
      if (!readOnly && wanted && wanted.privileges.includes(name) && (!wanted.columns || (columns && columns.every((c) => wanted.columns!.includes(c))))) continue;
      excess.push(`${name}${columns ? ` (${columns.join(', ')})` : ''} on ${target}`);
    }
    if (/ WITH GRANT OPTION\s*$/i.test(line)) excess.push(`GRANT OPTION on ${target}`);
  }
  return excess;
}
