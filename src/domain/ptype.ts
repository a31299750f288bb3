// The patron type (PTYPE): the ILS's own patron category as text — a Koha categorycode
// ("PT"), an Evergreen profile name ("Patrons") or a Sierra-style number ("3"). It is stored
// and compared as text, exactly: the number 3 and the text "3" are the same PTYPE, "03" and
// "3" are not (an ILS may have both). Settings files write the Sierra-style ones as numbers.

export const PTYPE_MAX_LENGTH = 100;
/** The largest PTYPE a settings file may write as a JSON number (Sierra's range). */
export const PTYPE_MAX_NUMBER = 32767;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a PTYPE given as text cannot be stored, or null: blank, too long, control characters or edge spaces. */
export function ptypeTextProblem(text: string): string | null {
  if (text.trim() === '') return 'must not be blank';
  if (text.length > PTYPE_MAX_LENGTH) return `must be at most ${PTYPE_MAX_LENGTH} characters; this has ${text.length}`;
  if (CONTROL.test(text)) return 'must not contain control characters';
  if (text.trim() !== text) return 'must not begin or end with a space';
  return null;
}

/** A PTYPE as a JSON value gives it (a whole number 0..32767 or a text), or why it is not one. */
export function readPtype(v: unknown): { ok: true; value: string } | { ok: false; reason: string } {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > PTYPE_MAX_NUMBER) {
      return { ok: false, reason: `must be a whole number from 0 to ${PTYPE_MAX_NUMBER}, or a patron category as text such as "PT"` };
    }
    return { ok: true, value: String(v) };
  }
  if (typeof v !== 'string') return { ok: false, reason: `must be a whole number from 0 to ${PTYPE_MAX_NUMBER} or a text of at most ${PTYPE_MAX_LENGTH} characters` };
  const problem = ptypeTextProblem(v);
  return problem === null ? { ok: true, value: v } : { ok: false, reason: problem };
}

/** The JSON form of a stored PTYPE: a number when it is one's canonical digits (0..32767), else the text. */
export function ptypeJson(ptype: string): number | string {
  const n = Number(ptype);
  return Number.isInteger(n) && n >= 0 && n <= PTYPE_MAX_NUMBER && String(n) === ptype ? n : ptype;
}
