import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asDate } from './dates.ts';
import { cents } from './money.ts';
import {
  CUSTOM_FIELDS,
  adultOrChild,
  displayName,
  encodeLine,
  headerLine,
  neutralise,
  parseCsv,
  parseReport,
  patronLines,
  reportFormat,
  validateCustomLayout,
  type CustomLayoutConfig,
  type ReportPatron,
} from './report-layouts.ts';

const DAY = asDate('2015-04-01');

function patron(over: Partial<ReportPatron> = {}): ReportPatron {
  return {
    patronId: 'P1',
    barcode: '21001',
    firstName: 'Zoë',
    lastName: 'Ångström-Núñez',
    address: '1 Main St, Apt 2',
    address2: '',
    city: 'Springfield',
    state: 'IL',
    postalCode: '62701',
    phone: '+1 217 555 0100',
    mobile: '',
    altPhone1: '',
    altPhone2: '',
    email: 'zoe@example.org',
    birthDate: '2000-04-02',
    homeLibrary: 'MAIN',
    ptype: '3',
    patronCode: 'ADULT',
    adultOrChild: '',
    owedCents: cents(123450),
    countedCents: cents(100000),
    referredCents: cents(124450),
    feeCents: cents(1000),
    referredOn: '2015-04-01',
    oldestCharge: '2015-01-05',
    newestCharge: '2015-03-01',
    change: null,
    previousCents: null,
    reason: null,
    charges: [
      { id: 'C1', assessedOn: '2015-01-05', reason: 'replacement', library: 'MAIN', itemBarcode: '3100', itemTitle: 'Tabs\tand\nlines', outstandingCents: cents(100000) },
      { id: 'C2', assessedOn: '2015-03-01', reason: 'overdue', library: 'EAST', itemBarcode: '', itemTitle: '', outstandingCents: cents(23450) },
    ],
    ...over,
  };
}

const custom = (over: Partial<CustomLayoutConfig>): CustomLayoutConfig => ({ fields: ['patron_id'], delimiter: ',', header: true, dateFormat: 'YYYY-MM-DD', moneyFormat: 'decimal', ...over });

describe('cell neutralisation', () => {
  it('prefixes a single quote to text starting with =, +, -, @, tab or CR, and to nothing else', () => {
    expect(['=1+2', '+1 555', '-x', '@SUM(A1)', '\tx', '\rx'].map(neutralise)).toEqual(["'=1+2", "'+1 555", "'-x", "'@SUM(A1)", "'\tx", "'\rx"]);
    expect(['Smith', ' =x', 'a=b', '', '\nx', "'=x"].map(neutralise)).toEqual(['Smith', ' =x', 'a=b', '', '\nx', "'=x"]);
  });

  it('is idempotent, so a download of a stored file is not quoted twice', () => {
    fc.assert(fc.property(fc.string(), (s) => neutralise(neutralise(s)) === neutralise(s)));
  });

  it('touches text cells only, never amounts or dates', () => {
    const line = encodeLine(['=HYPERLINK("http://x","y")', '-5.00', '2015-04-01'], ['text', 'money', 'date'], { delimiter: ',', quoting: 'csv', lineEnd: '\r\n' });
    expect(line).toBe(`"'=HYPERLINK(""http://x"",""y"")",-5.00,2015-04-01\r\n`);
  });
});

describe('delimited text', () => {
  it('tab-delimited lines turn tabs and line breaks inside values into spaces, after neutralising', () => {
    const line = encodeLine(['a\tb', 'c\r\nd', '\t=x'], ['text', 'text', 'text'], { delimiter: '\t', quoting: 'tsv', lineEnd: '\n' });
    expect(line).toBe("a b\tc  d\t' =x\n");
  });

  it('CSV quotes a cell holding the delimiter, a quote or a line break, doubling quotes', () => {
    const enc = { delimiter: ';', quoting: 'csv', lineEnd: '\r\n' } as const;
    expect(encodeLine(['a;b', 'say "hi"', 'two\nlines', 'a,b', 'plain'], null, enc)).toBe('"a;b";"say ""hi""";"two\nlines";a,b;plain\r\n');
  });

  it('reads back what it writes, for any cells and each delimiter', () => {
    const rows = fc.array(fc.array(fc.string({ unit: fc.constantFrom('a', 'é', ',', ';', '|', '\t', '"', '\r', '\n', ' ', '=') }), { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(rows, fc.constantFrom(',', ';', '|', '\t'), (cells, delimiter) => {
        const text = cells.map((r) => encodeLine(r, null, { delimiter, quoting: 'csv', lineEnd: '\r\n' })).join('');
        expect(parseCsv(text, delimiter)).toEqual(cells);
      }),
    );
  });
});

describe('the arrears layout', () => {
  it('writes one header, a P line per patron and a C line per outstanding charge, all with the same columns', () => {
    const f = reportFormat({ layout: 'arrears' }, 'new', DAY);
    const text = headerLine(f) + patronLines(f, patron());
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => l.split('\t').length)).toEqual([25, 25, 25, 25]);
    expect(lines[0]).toBe(
      'record_type\tpatron_id\tbarcode\tname\taddress\tcity\tstate\tpostal_code\tphone\temail\tbirth_date\thome_library\tpatron_type\t' +
        'amount_owed\tamount_in_window\tamount_referred\toldest_charge\tnewest_charge\t' +
        'charge_id\tassessed_date\tcharge_reason\tposting_library\titem_barcode\titem_title\tcharge_amount',
    );
    expect(lines[1]).toBe(
      "P\tP1\t21001\tÅngström-Núñez, Zoë\t1 Main St, Apt 2\tSpringfield\tIL\t62701\t'+1 217 555 0100\tzoe@example.org\t2000-04-02\tMAIN\t3\t" +
        '1234.50\t1000.00\t1244.50\t2015-01-05\t2015-03-01\t\t\t\t\t\t\t',
    );
    expect(lines[2]).toBe(`C\tP1${'\t'.repeat(17)}C1\t2015-01-05\treplacement\tMAIN\t3100\tTabs and lines\t1000.00`);
    expect(lines[3]).toBe(`C\tP1${'\t'.repeat(17)}C2\t2015-03-01\toverdue\tEAST\t\t\t234.50`);
  });

  it('writes a PTYPE code as a text cell, neutralised like any other', () => {
    const f = reportFormat({ layout: 'arrears' }, 'new', DAY);
    expect(f.columns[12]).toEqual({ name: 'patron_type', type: 'text' });
    expect(patronLines(f, patron({ ptype: 'PT', charges: [] })).split('\t')[12]).toBe('PT');
    expect(patronLines(f, patron({ ptype: '=1+1', charges: [] })).split('\t')[12]).toBe("'=1+1");
  });

  it('adds change, previous amount and reason to Updated Patrons, and leaves the window amount blank', () => {
    const f = reportFormat({ layout: 'arrears' }, 'update', DAY);
    expect(f.columns.slice(18, 21).map((c) => c.name)).toEqual(['change', 'previous_amount', 'reason']);
    const [p] = f.rows(patron({ countedCents: null, change: 'clear', previousCents: cents(2500), reason: 'paid', charges: [] }));
    expect(p!.slice(13, 21)).toEqual(['1234.50', '', '1244.50', '2015-01-05', '2015-03-01', 'clear', '25.00', 'paid']);
    expect(p).toHaveLength(28);
  });
});

describe('the UMS layout', () => {
  it('New Submissions have exactly the columns UMS receives from Koha, one CRLF line per patron', () => {
    const f = reportFormat({ layout: 'ums' }, 'new', DAY);
    expect(headerLine(f)).toBe(
      'borrowernumber,surname,firstname,cardnumber,address,address2,city,zipcode,state,phone,mobile,Alt Ph 1,Alt Ph 2,branchcode,' +
        'Adult or Child,dateofbirth,Most recent charge,Amt_In_Range,Total_Due,Total_Plus_Fee,email\r\n',
    );
    expect(patronLines(f, patron({ lastName: 'O"Brien, Jr.' }))).toBe(
      `P1,"O""Brien, Jr.",Zoë,21001,"1 Main St, Apt 2",,Springfield,62701,IL,'+1 217 555 0100,,,,MAIN,Child,2000-04-02,2015-03-01,1000.00,1234.50,1244.50,zoe@example.org\r\n`,
    );
  });

  it("New Submissions send the second address line, mobile, alternate phones and the ILS's Adult or Child as they are", () => {
    const f = reportFormat({ layout: 'ums' }, 'new', DAY);
    const p = patron({ address2: 'Apt 4B', mobile: '217-555-0199', altPhone1: '217-555-0111', altPhone2: '+1 217 555 0122', adultOrChild: 'A' });
    expect(parseCsv(patronLines(f, p), ',')[0]!.slice(4, 16)).toEqual([
      '1 Main St, Apt 2',
      'Apt 4B',
      'Springfield',
      '62701',
      'IL',
      "'+1 217 555 0100",
      '217-555-0199',
      '217-555-0111',
      "'+1 217 555 0122",
      'MAIN',
      'A',
      '2000-04-02',
    ]);
  });

  it('updates and sync have borrowernumber, surname, firstname, cardnumber, Due', () => {
    for (const kind of ['update', 'sync'] as const) {
      const f = reportFormat({ layout: 'ums' }, kind, DAY);
      expect(headerLine(f) + patronLines(f, patron({ owedCents: cents(-5) }))).toBe('borrowernumber,surname,firstname,cardnumber,Due\r\nP1,Ångström-Núñez,Zoë,21001,-0.05\r\n');
    }
  });

  it('a patron is a child until the 18th birthday, on the report date; no birth date leaves it blank', () => {
    const born = (birthDate: string | null) => ({ birthDate, adultOrChild: '' });
    expect(adultOrChild(born('1997-04-02'), asDate('2015-04-01'))).toBe('Child');
    expect(adultOrChild(born('1997-04-01'), asDate('2015-04-01'))).toBe('Adult');
    expect(adultOrChild(born('1996-02-29'), asDate('2014-02-28'))).toBe('Child');
    expect(adultOrChild(born('1996-02-29'), asDate('2014-03-01'))).toBe('Adult');
    expect(adultOrChild(born(null), asDate('2015-04-01'))).toBe('');
  });

  it("the ILS's own Adult or Child wins over the birth date, and stands alone without one", () => {
    expect(adultOrChild({ birthDate: '2010-01-01', adultOrChild: 'A' }, asDate('2015-04-01'))).toBe('A');
    expect(adultOrChild({ birthDate: null, adultOrChild: 'C' }, asDate('2015-04-01'))).toBe('C');
  });
});

describe('custom layouts', () => {
  it('writes the configured fields with the chosen delimiter, date and money formats', () => {
    const f = reportFormat({ layout: 'custom', config: custom({ fields: ['name', 'birth_date', 'amount_owed', 'report_date', 'charge_count'], delimiter: '|', dateFormat: 'MM/DD/YYYY', moneyFormat: 'cents' }) }, 'new', DAY);
    expect(headerLine(f) + patronLines(f, patron({ lastName: '=cmd|x' }))).toBe('name|birth_date|amount_owed|report_date|charge_count\r\n"\'=cmd|x, Zoë"|04/02/2000|123450|04/01/2015|2\r\n');
  });

  it('without a header the file is only patron lines, and a download still gets column names', () => {
    const f = reportFormat({ layout: 'custom', config: custom({ fields: ['patron_id', 'oldest_charge', 'previous_amount'], header: false, dateFormat: 'YYYYMMDD' }) }, 'sync', DAY);
    const text = headerLine(f) + patronLines(f, patron());
    expect(text).toBe('P1,20150105,\r\n');
    expect(parseReport(f, text)).toEqual([['patron_id', 'oldest_charge', 'previous_amount'], ['P1', '20150105', '']]);
  });

  it('validation fills defaults and rejects unknown fields by name and place', () => {
    expect(validateCustomLayout({ fields: ['patron_id', 'amount_owed'] })).toEqual({
      config: { fields: ['patron_id', 'amount_owed'], delimiter: ',', header: true, dateFormat: 'YYYY-MM-DD', moneyFormat: 'decimal' },
      problems: [],
    });
    const bad = validateCustomLayout({ fields: ['patron_id', 'name', 'shoe_size', 7], delimiter: ':', header: 'yes', dateFormat: 'DD.MM.YYYY', moneyFormat: 'float', colour: 'red' });
    expect(bad.config).toBeNull();
    expect(bad.problems.map((p) => p.field)).toEqual([
      'layoutConfig.colour',
      'layoutConfig.fields[2]',
      'layoutConfig.fields[3]',
      'layoutConfig.delimiter',
      'layoutConfig.dateFormat',
      'layoutConfig.moneyFormat',
      'layoutConfig.header',
    ]);
    expect(bad.problems[1]!.reason).toMatch(/^unknown field "shoe_size"; known fields: patron_id, barcode, /);
    expect(validateCustomLayout({ fields: [] }).problems).toEqual([{ field: 'layoutConfig.fields', reason: 'is required: a non-empty list of field names' }]);
    expect(validateCustomLayout(['patron_id']).problems).toEqual([{ field: 'layoutConfig', reason: 'must be an object with the custom layout settings' }]);
  });

  it('writes the contact fields and the stored Adult or Child when the patron has them', () => {
    const fields = ['address2', 'mobile', 'alt_phone_1', 'alt_phone_2', 'adult_or_child', 'patron_type'] as const;
    const f = reportFormat({ layout: 'custom', config: custom({ fields: [...fields], header: false }) }, 'new', DAY);
    const p = patron({ address2: 'Unit 7', mobile: '555-0199', altPhone1: '555-0111', altPhone2: '-0122', adultOrChild: 'Adult', ptype: 'PT' });
    expect(patronLines(f, p)).toBe("Unit 7,555-0199,555-0111,'-0122,Adult,PT\r\n");
  });

  it('every known field can be written', () => {
    const f = reportFormat({ layout: 'custom', config: custom({ fields: [...CUSTOM_FIELDS] }) }, 'update', DAY);
    const [line] = f.rows(patron({ change: 'update', previousCents: cents(999), reason: 'new charge' }));
    expect(Object.fromEntries(CUSTOM_FIELDS.map((name, i) => [name, line![i]]))).toEqual({
      patron_id: 'P1',
      barcode: '21001',
      first_name: 'Zoë',
      last_name: 'Ångström-Núñez',
      name: 'Ångström-Núñez, Zoë',
      address: '1 Main St, Apt 2',
      address2: '',
      city: 'Springfield',
      state: 'IL',
      postal_code: '62701',
      phone: '+1 217 555 0100',
      mobile: '',
      alt_phone_1: '',
      alt_phone_2: '',
      email: 'zoe@example.org',
      birth_date: '2000-04-02',
      home_library: 'MAIN',
      patron_type: '3',
      patron_code: 'ADULT',
      adult_or_child: 'Child',
      amount_owed: '1234.50',
      amount_in_window: '1000.00',
      amount_referred: '1244.50',
      agency_fee: '10.00',
      previous_amount: '9.99',
      oldest_charge: '2015-01-05',
      newest_charge: '2015-03-01',
      referred_on: '2015-04-01',
      report_date: '2015-04-01',
      change: 'update',
      reason: 'new charge',
      charge_count: '2',
    });
  });
});

describe('names', () => {
  it('are "Last, First", or whichever is present', () => {
    expect([displayName({ firstName: 'Ada', lastName: 'Lovelace' }), displayName({ firstName: '', lastName: 'Cher' }), displayName({ firstName: 'Prince', lastName: '' })]).toEqual([
      'Lovelace, Ada',
      'Cher',
      'Prince',
    ]);
  });
});
