// One entry of the Collection Agency Settings table, as the engine sees it.
// The JSON form (DESIGN.md) is parsed and validated in settings-validation.ts.
import type { Cents } from './money.ts';
import type { LocalDate } from './dates.ts';

export type WindowSpec =
  | { mode: 'relative'; startDays: number | null; endDays: number | null }
  | { mode: 'absolute'; start: LocalDate | null; end: LocalDate | null; graceDays: number | null };

export type AgencyStrategyName = 'least_referred_debt' | 'round_robin';

export type AgencyChoice =
  | { kind: 'fixed'; agency: string }
  | { kind: 'strategy'; strategy: AgencyStrategyName; among: string[] };

export interface SettingsEntry {
  /** Database id; also the file base name when baseFilename is null. */
  id: number;
  /** Order in the table: the first entry that applies to a patron is the one used. */
  position: number;
  name: string;
  homeLibraries: string[];
  /** Patron types as text (src/domain/ptype.ts); a Sierra-style 3 is "3". */
  ptypes: string[];
  exemptPatronCodes: string[];
  countedCharges: 'all' | 'item_fees';
  window: WindowSpec;
  feeAgeDays: number | null;
  minimumOwed: Cents;
  requireBill: boolean;
  minDaysOverdue: number | null;
  removeIfLessThan: Cents;
  agencyFee: Cents;
  agency: AgencyChoice;
  resubmitAfterClear: boolean;
  autoCancelDays: number | null;
  writeOffOnCancel: boolean;
  baseFilename: string | null;
  autoNewSubmission: boolean;
  autoUpdateDays: string;
  sendEmptyReports: boolean;
  reviewHours: number | null;
  email: { from: string; to: string; cc: string; subject: string };
}

/** Item fees in the Polaris sense: the only reasons counted when countedCharges = 'item_fees'. */
export const ITEM_FEE_REASONS = ['replacement', 'processing'] as const;

/** Remove-if-less-than: X = 0 removes patrons owing zero or less; X > 0 removes those owing less than X. */
export function shouldRemove(owed: Cents, removeIfLessThan: Cents): boolean {
  return removeIfLessThan === 0 ? owed <= 0 : owed < removeIfLessThan;
}

/** Whether an entry applies to a patron (home library and PTYPE lists; blank = all). */
export function entryApplies(entry: Pick<SettingsEntry, 'homeLibraries' | 'ptypes'>, patron: { homeLibrary: string; ptype: string }): boolean {
  return (
    (entry.homeLibraries.length === 0 || entry.homeLibraries.includes(patron.homeLibrary)) &&
    (entry.ptypes.length === 0 || entry.ptypes.includes(patron.ptype))
  );
}
