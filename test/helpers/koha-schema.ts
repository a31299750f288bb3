// Koha's tables as the connector meets them, written for these tests from Koha's documented
// schema (Koha 23.11: table and column names, types, NOT NULL columns, defaults, keys, the
// foreign keys and their ON DELETE actions, and the stock debit, credit and restriction
// codes). Columns the connector never reads are kept where they are NOT NULL or carry a key,
// so an INSERT that forgets one fails here as it would in a real Koha.

export const KOHA_TABLES = `
CREATE TABLE branches (
  branchcode varchar(10) NOT NULL DEFAULT '',
  branchname longtext NOT NULL,
  branchaddress1 longtext DEFAULT NULL,
  branchcity longtext DEFAULT NULL,
  branchzip varchar(25) DEFAULT NULL,
  branchphone longtext DEFAULT NULL,
  branchemail longtext DEFAULT NULL,
  pickup_location tinyint(1) NOT NULL DEFAULT 1,
  public tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (branchcode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE categories (
  categorycode varchar(10) NOT NULL DEFAULT '',
  description longtext DEFAULT NULL,
  enrolmentperiod smallint(6) DEFAULT NULL,
  upperagelimit smallint(6) DEFAULT NULL,
  dateofbirthrequired tinyint(1) DEFAULT NULL,
  enrolmentfee decimal(28,6) DEFAULT NULL,
  overduenoticerequired tinyint(1) DEFAULT NULL,
  hidelostitems tinyint(1) NOT NULL DEFAULT 0,
  category_type varchar(1) NOT NULL DEFAULT 'A',
  BlockExpiredPatronOpacActions tinyint(1) NOT NULL DEFAULT -1,
  default_privacy enum('default','never','forever') NOT NULL DEFAULT 'default',
  checkprevcheckout varchar(7) NOT NULL DEFAULT 'inherit',
  can_be_guarantee tinyint(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (categorycode),
  UNIQUE KEY categorycode (categorycode)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE sms_providers (
  id int(11) NOT NULL AUTO_INCREMENT,
  name varchar(255) NOT NULL,
  domain varchar(255) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE borrowers (
  borrowernumber int(11) NOT NULL AUTO_INCREMENT,
  cardnumber varchar(32) DEFAULT NULL,
  surname longtext DEFAULT NULL,
  firstname mediumtext DEFAULT NULL,
  middle_name longtext DEFAULT NULL,
  title longtext DEFAULT NULL,
  othernames longtext DEFAULT NULL,
  initials mediumtext DEFAULT NULL,
  streetnumber tinytext DEFAULT NULL,
  address longtext DEFAULT NULL,
  address2 mediumtext DEFAULT NULL,
  city longtext DEFAULT NULL,
  state mediumtext DEFAULT NULL,
  zipcode tinytext DEFAULT NULL,
  country mediumtext DEFAULT NULL,
  email longtext DEFAULT NULL,
  phone mediumtext DEFAULT NULL,
  mobile tinytext DEFAULT NULL,
  fax longtext DEFAULT NULL,
  emailpro mediumtext DEFAULT NULL,
  phonepro mediumtext DEFAULT NULL,
  B_address mediumtext DEFAULT NULL,
  B_city longtext DEFAULT NULL,
  B_phone longtext DEFAULT NULL,
  dateofbirth date DEFAULT NULL,
  branchcode varchar(10) NOT NULL DEFAULT '',
  categorycode varchar(10) NOT NULL DEFAULT '',
  dateenrolled date DEFAULT NULL,
  dateexpiry date DEFAULT NULL,
  gonenoaddress tinyint(1) DEFAULT NULL,
  lost tinyint(1) DEFAULT NULL,
  debarred date DEFAULT NULL,
  debarredcomment varchar(255) DEFAULT NULL,
  borrowernotes longtext DEFAULT NULL,
  sex varchar(1) DEFAULT NULL,
  password varchar(60) DEFAULT NULL,
  auth_method enum('password','two-factor') NOT NULL DEFAULT 'password',
  flags bigint(11) DEFAULT NULL,
  userid varchar(75) DEFAULT NULL,
  opacnote longtext DEFAULT NULL,
  sort1 varchar(80) DEFAULT NULL,
  sort2 varchar(80) DEFAULT NULL,
  sms_provider_id int(11) DEFAULT NULL,
  privacy int(11) NOT NULL DEFAULT 1,
  privacy_guarantor_fines tinyint(1) NOT NULL DEFAULT 0,
  privacy_guarantor_checkouts tinyint(1) NOT NULL DEFAULT 0,
  checkprevcheckout varchar(7) NOT NULL DEFAULT 'inherit',
  updated_on timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  lastseen datetime DEFAULT NULL,
  lang varchar(25) NOT NULL DEFAULT 'default',
  login_attempts int(4) NOT NULL DEFAULT 0,
  anonymized tinyint(1) NOT NULL DEFAULT 0,
  autorenew_checkouts tinyint(1) NOT NULL DEFAULT 1,
  primary_contact_method varchar(45) DEFAULT NULL,
  PRIMARY KEY (borrowernumber),
  UNIQUE KEY cardnumber (cardnumber),
  UNIQUE KEY userid (userid),
  KEY categorycode (categorycode),
  KEY branchcode (branchcode),
  KEY surname_idx (surname(191)),
  KEY sms_provider_id (sms_provider_id),
  CONSTRAINT borrowers_ibfk_1 FOREIGN KEY (categorycode) REFERENCES categories (categorycode),
  CONSTRAINT borrowers_ibfk_2 FOREIGN KEY (branchcode) REFERENCES branches (branchcode),
  CONSTRAINT borrowers_ibfk_3 FOREIGN KEY (sms_provider_id) REFERENCES sms_providers (id) ON DELETE SET NULL ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE deletedborrowers (
  borrowernumber int(11) NOT NULL DEFAULT 0,
  cardnumber varchar(32) DEFAULT NULL,
  surname longtext DEFAULT NULL,
  firstname mediumtext DEFAULT NULL,
  address longtext DEFAULT NULL,
  address2 mediumtext DEFAULT NULL,
  city longtext DEFAULT NULL,
  state mediumtext DEFAULT NULL,
  zipcode tinytext DEFAULT NULL,
  email longtext DEFAULT NULL,
  phone mediumtext DEFAULT NULL,
  mobile tinytext DEFAULT NULL,
  phonepro mediumtext DEFAULT NULL,
  B_phone longtext DEFAULT NULL,
  dateofbirth date DEFAULT NULL,
  branchcode varchar(10) NOT NULL DEFAULT '',
  categorycode varchar(10) NOT NULL DEFAULT '',
  debarred date DEFAULT NULL,
  debarredcomment varchar(255) DEFAULT NULL,
  sort1 varchar(80) DEFAULT NULL,
  sort2 varchar(80) DEFAULT NULL,
  privacy int(11) NOT NULL DEFAULT 1,
  checkprevcheckout varchar(7) NOT NULL DEFAULT 'inherit',
  updated_on timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  lang varchar(25) NOT NULL DEFAULT 'default',
  KEY borrowernumber (borrowernumber),
  KEY cardnumber (cardnumber)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE biblio (
  biblionumber int(11) NOT NULL AUTO_INCREMENT,
  frameworkcode varchar(4) NOT NULL DEFAULT '',
  author longtext DEFAULT NULL,
  title longtext DEFAULT NULL,
  timestamp timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  datecreated date NOT NULL,
  PRIMARY KEY (biblionumber)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE biblioitems (
  biblioitemnumber int(11) NOT NULL AUTO_INCREMENT,
  biblionumber int(11) NOT NULL DEFAULT 0,
  itemtype varchar(10) DEFAULT NULL,
  timestamp timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  PRIMARY KEY (biblioitemnumber),
  KEY bibnoidx (biblionumber),
  CONSTRAINT biblioitems_ibfk_1 FOREIGN KEY (biblionumber) REFERENCES biblio (biblionumber) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE items (
  itemnumber int(11) NOT NULL AUTO_INCREMENT,
  biblionumber int(11) NOT NULL DEFAULT 0,
  biblioitemnumber int(11) NOT NULL DEFAULT 0,
  barcode varchar(20) DEFAULT NULL,
  dateaccessioned date DEFAULT NULL,
  homebranch varchar(10) DEFAULT NULL,
  price decimal(8,2) DEFAULT NULL,
  replacementprice decimal(8,2) DEFAULT NULL,
  datelastborrowed date DEFAULT NULL,
  datelastseen datetime DEFAULT NULL,
  notforloan tinyint(1) NOT NULL DEFAULT 0,
  damaged tinyint(1) NOT NULL DEFAULT 0,
  itemlost tinyint(1) NOT NULL DEFAULT 0,
  itemlost_on datetime DEFAULT NULL,
  withdrawn tinyint(1) NOT NULL DEFAULT 0,
  withdrawn_on datetime DEFAULT NULL,
  itemcallnumber varchar(255) DEFAULT NULL,
  issues smallint(6) DEFAULT 0,
  holdingbranch varchar(10) DEFAULT NULL,
  timestamp timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  onloan date DEFAULT NULL,
  itype varchar(10) DEFAULT NULL,
  PRIMARY KEY (itemnumber),
  UNIQUE KEY itembarcodeidx (barcode),
  KEY itembibnoidx (biblionumber),
  KEY homebranch (homebranch),
  KEY holdingbranch (holdingbranch),
  KEY timestamp (timestamp),
  CONSTRAINT items_ibfk_1 FOREIGN KEY (biblioitemnumber) REFERENCES biblioitems (biblioitemnumber) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT items_ibfk_2 FOREIGN KEY (homebranch) REFERENCES branches (branchcode) ON UPDATE CASCADE,
  CONSTRAINT items_ibfk_3 FOREIGN KEY (holdingbranch) REFERENCES branches (branchcode) ON UPDATE CASCADE,
  CONSTRAINT items_ibfk_4 FOREIGN KEY (biblionumber) REFERENCES biblio (biblionumber) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE issues (
  issue_id int(11) NOT NULL AUTO_INCREMENT,
  borrowernumber int(11) NOT NULL,
  issuer_id int(11) DEFAULT NULL,
  itemnumber int(11) NOT NULL,
  date_due datetime DEFAULT NULL,
  branchcode varchar(10) DEFAULT NULL,
  returndate datetime DEFAULT NULL,
  lastreneweddate datetime DEFAULT NULL,
  renewals_count tinyint(4) NOT NULL DEFAULT 0,
  unseen_renewals tinyint(4) NOT NULL DEFAULT 0,
  auto_renew tinyint(1) DEFAULT 0,
  timestamp timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  issuedate datetime DEFAULT NULL,
  onsite_checkout int(1) NOT NULL DEFAULT 0,
  note longtext DEFAULT NULL,
  PRIMARY KEY (issue_id),
  UNIQUE KEY itemnumber (itemnumber),
  KEY issuesborridx (borrowernumber),
  KEY bordate (borrowernumber, timestamp),
  CONSTRAINT issues_ibfk_1 FOREIGN KEY (borrowernumber) REFERENCES borrowers (borrowernumber) ON UPDATE CASCADE,
  CONSTRAINT issues_ibfk_2 FOREIGN KEY (itemnumber) REFERENCES items (itemnumber) ON UPDATE CASCADE,
  CONSTRAINT issues_ibfk_borrowers_borrowernumber FOREIGN KEY (issuer_id) REFERENCES borrowers (borrowernumber) ON DELETE SET NULL ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE old_issues (
  issue_id int(11) NOT NULL,
  borrowernumber int(11) DEFAULT NULL,
  issuer_id int(11) DEFAULT NULL,
  itemnumber int(11) DEFAULT NULL,
  date_due datetime DEFAULT NULL,
  branchcode varchar(10) DEFAULT NULL,
  returndate datetime DEFAULT NULL,
  renewals_count tinyint(4) NOT NULL DEFAULT 0,
  timestamp timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  issuedate datetime DEFAULT NULL,
  onsite_checkout int(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (issue_id),
  KEY old_issuesborridx (borrowernumber),
  CONSTRAINT old_issues_ibfk_1 FOREIGN KEY (borrowernumber) REFERENCES borrowers (borrowernumber) ON DELETE SET NULL ON UPDATE SET NULL,
  CONSTRAINT old_issues_ibfk_2 FOREIGN KEY (itemnumber) REFERENCES items (itemnumber) ON DELETE SET NULL ON UPDATE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE account_debit_types (
  code varchar(80) NOT NULL,
  description varchar(200) DEFAULT NULL,
  can_be_invoiced tinyint(1) NOT NULL DEFAULT 1,
  can_be_sold tinyint(1) NOT NULL DEFAULT 0,
  default_amount decimal(28,6) DEFAULT NULL,
  is_system tinyint(1) NOT NULL DEFAULT 0,
  archived tinyint(1) NOT NULL DEFAULT 0,
  restricts_checkouts tinyint(1) NOT NULL DEFAULT 1,
  PRIMARY KEY (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE account_credit_types (
  code varchar(80) NOT NULL,
  description varchar(200) DEFAULT NULL,
  can_be_added_manually tinyint(4) NOT NULL DEFAULT 1,
  credit_number_enabled tinyint(1) NOT NULL DEFAULT 0,
  is_system tinyint(1) NOT NULL DEFAULT 0,
  archived tinyint(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE cash_registers (
  id int(11) NOT NULL AUTO_INCREMENT,
  name varchar(24) NOT NULL,
  description longtext NOT NULL,
  branch varchar(10) NOT NULL,
  branch_default tinyint(1) NOT NULL DEFAULT 0,
  starting_float decimal(28,6) DEFAULT NULL,
  archived tinyint(1) NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY name (name, branch),
  CONSTRAINT cash_registers_branch FOREIGN KEY (branch) REFERENCES branches (branchcode) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE accountlines (
  accountlines_id int(11) NOT NULL AUTO_INCREMENT,
  issue_id int(11) DEFAULT NULL,
  borrowernumber int(11) DEFAULT NULL,
  itemnumber int(11) DEFAULT NULL,
  date timestamp NULL DEFAULT NULL,
  amount decimal(28,6) DEFAULT NULL,
  description longtext DEFAULT NULL,
  credit_type_code varchar(80) DEFAULT NULL,
  debit_type_code varchar(80) DEFAULT NULL,
  credit_number varchar(20) DEFAULT NULL,
  status varchar(16) DEFAULT NULL,
  payment_type varchar(80) DEFAULT NULL,
  amountoutstanding decimal(28,6) DEFAULT NULL,
  timestamp timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  note mediumtext DEFAULT NULL,
  manager_id int(11) DEFAULT NULL,
  register_id int(11) DEFAULT NULL,
  interface varchar(16) NOT NULL,
  branchcode varchar(10) DEFAULT NULL,
  PRIMARY KEY (accountlines_id),
  KEY acctsborridx (borrowernumber),
  KEY timeidx (timestamp),
  KEY credit_type_code (credit_type_code),
  KEY debit_type_code (debit_type_code),
  KEY itemnumber (itemnumber),
  KEY branchcode (branchcode),
  KEY manager_id (manager_id),
  KEY accountlines_ibfk_registers (register_id),
  CONSTRAINT accountlines_ibfk_borrowers FOREIGN KEY (borrowernumber) REFERENCES borrowers (borrowernumber) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT accountlines_ibfk_items FOREIGN KEY (itemnumber) REFERENCES items (itemnumber) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT accountlines_ibfk_borrowers_2 FOREIGN KEY (manager_id) REFERENCES borrowers (borrowernumber) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT accountlines_ibfk_branches FOREIGN KEY (branchcode) REFERENCES branches (branchcode) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT accountlines_ibfk_registers FOREIGN KEY (register_id) REFERENCES cash_registers (id) ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT accountlines_ibfk_credit_type FOREIGN KEY (credit_type_code) REFERENCES account_credit_types (code) ON UPDATE CASCADE,
  CONSTRAINT accountlines_ibfk_debit_type FOREIGN KEY (debit_type_code) REFERENCES account_debit_types (code) ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE account_offsets (
  id int(11) NOT NULL AUTO_INCREMENT,
  credit_id int(11) DEFAULT NULL,
  debit_id int(11) DEFAULT NULL,
  type enum('CREATE','APPLY','VOID','OVERDUE_INCREASE','OVERDUE_DECREASE') NOT NULL,
  amount decimal(26,6) NOT NULL,
  created_on timestamp NOT NULL DEFAULT current_timestamp(),
  PRIMARY KEY (id),
  KEY account_offsets_ibfk_p (credit_id),
  KEY account_offsets_ibfk_f (debit_id),
  CONSTRAINT account_offsets_ibfk_p FOREIGN KEY (credit_id) REFERENCES accountlines (accountlines_id) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT account_offsets_ibfk_f FOREIGN KEY (debit_id) REFERENCES accountlines (accountlines_id) ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE restriction_types (
  code varchar(50) NOT NULL,
  display_text text NOT NULL,
  is_system tinyint(1) NOT NULL DEFAULT 0,
  is_default tinyint(1) NOT NULL DEFAULT 0,
  lift_after_payment tinyint(1) NOT NULL DEFAULT 0,
  fee_limit decimal(28,6) DEFAULT NULL,
  PRIMARY KEY (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE borrower_debarments (
  borrower_debarment_id int(11) NOT NULL AUTO_INCREMENT,
  borrowernumber int(11) NOT NULL,
  expiration date DEFAULT NULL,
  type varchar(50) NOT NULL,
  comment mediumtext DEFAULT NULL,
  manager_id int(11) DEFAULT NULL,
  created timestamp NOT NULL DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  updated timestamp NULL DEFAULT NULL,
  PRIMARY KEY (borrower_debarment_id),
  KEY borrowernumber (borrowernumber),
  KEY borrower_debarments_ibfk_2 (type),
  CONSTRAINT borrower_debarments_ibfk_1 FOREIGN KEY (borrowernumber) REFERENCES borrowers (borrowernumber) ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT borrower_debarments_ibfk_2 FOREIGN KEY (type) REFERENCES restriction_types (code) ON DELETE NO ACTION ON UPDATE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE systempreferences (
  variable varchar(50) NOT NULL DEFAULT '',
  value mediumtext DEFAULT NULL,
  options longtext DEFAULT NULL,
  explanation mediumtext DEFAULT NULL,
  type varchar(20) DEFAULT NULL,
  PRIMARY KEY (variable)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE authorised_values (
  id int(11) NOT NULL AUTO_INCREMENT,
  category varchar(32) NOT NULL DEFAULT '',
  authorised_value varchar(80) NOT NULL DEFAULT '',
  lib varchar(200) DEFAULT NULL,
  lib_opac varchar(200) DEFAULT NULL,
  imageurl varchar(200) DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY av_uniq (category, authorised_value),
  KEY name (category)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
`;

/** The stock rows a fresh Koha installs: debit, credit and restriction types, the version, payment types. */
export const KOHA_STOCK_ROWS = `
INSERT INTO account_debit_types (code, description, can_be_invoiced, can_be_sold, default_amount, is_system) VALUES
  ('ACCOUNT', 'Account creation fee', 0, 0, NULL, 1),
  ('ACCOUNT_RENEW', 'Account renewal fee', 0, 0, NULL, 1),
  ('ARTICLE_REQUEST', 'Article request fee', 0, 0, NULL, 1),
  ('LOST', 'Lost item', 1, 0, NULL, 1),
  ('MANUAL', 'Manual fee', 1, 0, NULL, 0),
  ('NEW_CARD', 'New card fee', 1, 0, NULL, 1),
  ('OVERDUE', 'Overdue fine', 0, 0, NULL, 1),
  ('PROCESSING', 'Lost item processing fee', 0, 0, NULL, 1),
  ('PAYOUT', 'Payment from library to patron', 0, 0, NULL, 1),
  ('RENT', 'Rental fee', 0, 0, NULL, 1),
  ('RENT_DAILY', 'Daily rental fee', 0, 0, NULL, 1),
  ('RENT_DAILY_RENEW', 'Renewal of daily rental item', 0, 0, NULL, 1),
  ('RENT_RENEW', 'Renewal of rental item', 0, 0, NULL, 1),
  ('RESERVE', 'Hold fee', 0, 0, NULL, 1),
  ('RESERVE_EXPIRED', 'Hold waiting too long', 0, 0, NULL, 1),
  ('VOID', 'Credit has been voided', 0, 0, NULL, 1);
INSERT INTO account_credit_types (code, description, can_be_added_manually, is_system) VALUES
  ('OVERPAYMENT', 'Overpayment refund', 0, 1),
  ('PAYMENT', 'Payment', 0, 1),
  ('WRITEOFF', 'Writeoff', 0, 1),
  ('FORGIVEN', 'Forgiven', 1, 1),
  ('CREDIT', 'Credit', 1, 1),
  ('DISCOUNT', 'A discount applied to a patrons fine', 0, 1),
  ('REFUND', 'Refund', 0, 1),
  ('LOST_FOUND', 'Lost item fee refund', 0, 1),
  ('PURCHASE', 'Purchase', 0, 1),
  ('CANCELLATION', 'Cancellation', 0, 1),
  ('PROCESSING_FOUND', 'Lost item processing fee refund', 0, 1);
INSERT INTO restriction_types (code, display_text, is_system, is_default) VALUES
  ('MANUAL', 'Manual restriction', 0, 1),
  ('OVERDUES', 'Overdues', 1, 0),
  ('SUSPENSION', 'Suspension', 1, 0),
  ('DISCHARGE', 'Discharge', 1, 0);
INSERT INTO systempreferences (variable, value, type) VALUES ('Version', '23.1103000', NULL);
INSERT INTO authorised_values (category, authorised_value, lib) VALUES ('PAYMENT_TYPE', 'CASH', 'Cash'), ('PAYMENT_TYPE', 'CC', 'Credit card'), ('PAYMENT_TYPE', 'SIP00', 'Cash via SIP2');
`;

/** DESIGN.md's least-privilege GRANTs for the connector's own database user, on database `db`. */
export function kohaGrants(db: string, user: string): string[] {
  return [
    `GRANT SELECT ON \`${db}\`.* TO ${user}`,
    `GRANT INSERT, UPDATE, DELETE ON \`${db}\`.borrower_debarments TO ${user}`,
    `GRANT UPDATE (debarred, debarredcomment) ON \`${db}\`.borrowers TO ${user}`,
    `GRANT INSERT ON \`${db}\`.accountlines TO ${user}`,
    `GRANT INSERT ON \`${db}\`.account_offsets TO ${user}`,
  ];
}
