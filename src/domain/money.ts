// Money is whole cents in a branded number. Parse and format only at the edges.

export type Cents = number & { readonly __brand: 'Cents' };

export const ZERO = 0 as Cents;

export function cents(n: number): Cents {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a whole number of cents: ${n}`);
  return n as Cents;
}

const MONEY = /^(-)?(\d{1,13})(?:\.(\d{1,2}))?$/;

/** Parses "12.50", "12.5", "12" (and a leading "-") into cents; null when the text is not plain decimal money. */
export function parseMoney(text: string): Cents | null {
  const m = MONEY.exec(text.trim());
  if (!m) return null;
  const whole = Number(m[2]);
  const frac = m[3] ? Number(m[3].padEnd(2, '0')) : 0;
  const value = whole * 100 + frac;
  return (m[1] && value !== 0 ? -value : value) as Cents;
}

const DECIMAL = /^(-)?(\d{1,13})(?:\.(\d*))?$/;

/**
 * A database DECIMAL as text ("12.500000", "-3.1", "0") in cents, rounded half away from zero:
 * how an ILS's money columns (Koha decimal(28,6), Evergreen numeric(6,2)) become Arrears's.
 * Null for anything else, so a caller can name the bad value.
 */
export function decimalToCents(text: string): Cents | null {
  // A full sync reads millions: the plain shape is read digit by digit, anything else by the pattern.
  const plain = plainDecimalCents(text);
  if (plain !== undefined) return plain;
  return patternDecimalCents(text);
}

/** decimalToCents by its pattern: the definition, for any text. */
export function patternDecimalCents(text: string): Cents | null {
  const m = DECIMAL.exec(text.trim());
  if (!m) return null;
  const frac = m[3] ?? '';
  let value = Number(m[2]) * 100 + Number(frac.slice(0, 2).padEnd(2, '0'));
  if (frac.length > 2 && frac.charCodeAt(2) >= 53 /* '5' */) value += 1;
  return (m[1] && value !== 0 ? -value : value) as Cents;
}

/**
 * decimalToCents of text with no space around it, with no allocation: undefined for any other
 * shape (the pattern then decides, a bad value included).
 */
function plainDecimalCents(t: string): Cents | null | undefined {
  const n = t.length;
  const negative = n > 0 && t.charCodeAt(0) === 45; // '-'
  let i = negative ? 1 : 0;
  let whole = 0;
  const from = i;
  for (; i < n; i++) {
    const d = t.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    whole = whole * 10 + d;
  }
  if (i === from || i - from > 13) return undefined;
  let cents = 0;
  if (i < n) {
    if (t.charCodeAt(i) !== 46) return undefined; // '.'
    let k = 0;
    for (i++; i < n; i++, k++) {
      const d = t.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return undefined;
      if (k < 2) cents = cents * 10 + d;
      else if (k === 2 && d >= 5) cents += 1;
    }
    if (k === 1) cents *= 10;
  }
  const value = whole * 100 + cents;
  return (negative && value !== 0 ? -value : value) as Cents;
}

/** Formats cents as plain "1234.50": no thousands separator, always two decimals. */
export function formatMoney(c: number): string {
  const sign = c < 0 ? '-' : '';
  const abs = Math.abs(c);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

export function add(a: Cents, b: Cents): Cents {
  return (a + b) as Cents;
}

export function sub(a: Cents, b: Cents): Cents {
  return (a - b) as Cents;
}

export function sum(values: Iterable<number>): Cents {
  let total = 0;
  for (const v of values) total += v;
  return total as Cents;
}

export function min(a: Cents, b: Cents): Cents {
  return (a < b ? a : b) as Cents;
}
