// JSON-schema pieces the route files share, so every list pages the same way and every id
// and date is checked the same way (bad input → 400 naming the field). They also make up
// the OpenAPI document at /docs.
import { parseDate, type LocalDate } from '../domain/dates.ts';
import { ValidationError } from '../domain/errors.ts';

export const DATE_PATTERN = '^\\d{4}-\\d{2}-\\d{2}$';

export const dateString = { type: 'string', pattern: DATE_PATTERN, description: 'a calendar date, YYYY-MM-DD' } as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 } },
} as const;

/** Ids of the tables keyed by a 32-bit serial (users, API tokens, agencies, settings entries). */
export const serialIdParams = {
  ...idParams,
  properties: { id: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } },
} as const;

/** A record set, settings entry or agency: by id or by name. */
export const refParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: 200, description: 'id or name' } },
} as const;

/** A user: by id or by username. */
export const userParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: 64, description: 'user id or username' } },
} as const;

export const pageProperties = {
  limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  offset: { type: 'integer', minimum: 0, default: 0 },
} as const;

export interface PageQuery {
  limit: number;
  offset: number;
}

/** A whole list as every list reply is shaped: the items and how many there are. */
export function all<T>(items: T[]): { items: T[]; total: number } {
  return { items, total: items.length };
}

/** A calendar date from a request field, or a 400 naming it ("2015-02-30" is refused, not rolled over). */
export function calendarDate(text: string, field: string): LocalDate {
  const d = parseDate(text);
  if (!d) throw ValidationError.of(`"${text}" is not a calendar date (YYYY-MM-DD)`, { field });
  return d;
}

/** Patron ids or a record set: what the bulk second-agency actions take. */
export const patronTargetProperties = {
  patronIds: { type: 'array', minItems: 1, maxItems: 100_000, items: { type: 'string', minLength: 1, maxLength: 100 } },
  set: { type: 'string', minLength: 1, maxLength: 200, description: 'a patron record set, by id or name' },
} as const;

export function patronTarget(body: { patronIds?: string[]; set?: string }): { set: string } | { patronIds: string[] } {
  if (body.set !== undefined && body.patronIds !== undefined) throw ValidationError.of('give patronIds or set, not both', { field: 'set' });
  if (body.set !== undefined) return { set: body.set };
  if (body.patronIds === undefined) throw ValidationError.of('give patronIds or set', { field: 'patronIds' });
  return { patronIds: body.patronIds };
}
