import { describe, expect, it } from 'vitest';
import { kohaExcess } from './grants.ts';

const TO = ' TO `arrears`@`10.0.0.5`';
/** README's GRANTs as MariaDB shows them back. */
const README = [
  "GRANT USAGE ON *.* TO `arrears`@`10.0.0.5` IDENTIFIED BY PASSWORD '*D821809F681A40A6E379B50D0463EFAE20BDD122'",
  'GRANT SELECT ON `koha_library`.*' + TO,
  'GRANT INSERT, UPDATE, DELETE ON `koha_library`.`borrower_debarments`' + TO,
  'GRANT UPDATE (`debarredcomment`, `debarred`) ON `koha_library`.`borrowers`' + TO,
  'GRANT INSERT ON `koha_library`.`accountlines`' + TO,
  'GRANT INSERT ON `koha_library`.`account_offsets`' + TO,
];

describe('kohaExcess', () => {
  it("finds nothing beyond README's GRANTs, in MariaDB's or MySQL's spelling", () => {
    expect(kohaExcess(README, 'koha_library', false)).toEqual([]);
    expect(kohaExcess(['GRANT USAGE ON *.* TO `arrears`@`%`', 'GRANT SELECT ON `koha_library`.* TO `arrears`@`%`', 'GRANT UPDATE (debarred) ON koha_library.borrowers TO arrears@%'], 'koha_library', false)).toEqual([]);
  });

  it("names Koha's own user (ALL PRIVILEGES on its database) and root, with the grant option", () => {
    expect(kohaExcess(['GRANT USAGE ON *.* TO `koha_library`@`localhost`', 'GRANT ALL PRIVILEGES ON `koha_library`.* TO `koha_library`@`localhost`'], 'koha_library', false)).toEqual(['ALL PRIVILEGES on koha_library.*']);
    expect(kohaExcess(['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION', "GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION"], 'koha_library', false)).toEqual([
      'ALL PRIVILEGES on *.*',
      'GRANT OPTION on *.*',
      "PROXY on ''@'%'",
      "GRANT OPTION on ''@'%'",
    ]);
  });

  it('names each write beyond the write-back, an UPDATE of other columns, and another database', () => {
    expect(
      kohaExcess(
        [
          'GRANT SELECT, INSERT, UPDATE, DELETE ON `koha_library`.*' + TO,
          'GRANT UPDATE ON `koha_library`.`borrowers`' + TO,
          'GRANT UPDATE (`debarred`, `surname`) ON `koha_library`.`borrowers`' + TO,
          'GRANT DELETE ON `koha_library`.`accountlines`' + TO,
          'GRANT SELECT ON `other_db`.*' + TO,
          'GRANT APPLICATION_PASSWORD_ADMIN,AUDIT_ADMIN ON *.*' + TO,
          'GRANT `koha_admin` TO `arrears`@`10.0.0.5`',
        ],
        'koha_library',
        false,
      ),
    ).toEqual([
      'INSERT on koha_library.*',
      'UPDATE on koha_library.*',
      'DELETE on koha_library.*',
      'UPDATE on koha_library.borrowers',
      'UPDATE (debarred, surname) on koha_library.borrowers',
      'DELETE on koha_library.accountlines',
      'SELECT on other_db.*',
      'APPLICATION_PASSWORD_ADMIN on *.*',
      'AUDIT_ADMIN on *.*',
      'the role koha_admin (check what it grants)',
    ]);
  });

  it('reads an escaped database name as the database, and passes over lines that grant nothing', () => {
    expect(kohaExcess(['GRANT SELECT ON `koha\\_library`.*' + TO, 'SET DEFAULT ROLE `reader` FOR `arrears`@`10.0.0.5`', 'REVOKE INSERT ON `koha_library`.* FROM `arrears`@`10.0.0.5`'], 'koha_library', false)).toEqual([]);
  });

  it('for a read-only connector, names every write', () => {
    expect(kohaExcess(README, 'koha_library', true)).toEqual([
      'INSERT on koha_library.borrower_debarments',
      'UPDATE on koha_library.borrower_debarments',
      'DELETE on koha_library.borrower_debarments',
      'UPDATE (debarredcomment, debarred) on koha_library.borrowers',
      'INSERT on koha_library.accountlines',
      'INSERT on koha_library.account_offsets',
    ]);
  });
});
