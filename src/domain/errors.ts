// One error hierarchy, mapped once to CLI exit codes and HTTP statuses.

/** The `code` of an error as the API and the CLI's --json print it, named for its HTTP status. */
export type ErrorCode = 'validation' | 'unauthenticated' | 'forbidden' | 'not_found' | 'conflict' | 'too_large' | 'rate_limited' | 'unavailable' | 'bad_request' | 'internal';

const CODES: Record<number, ErrorCode> = { 400: 'validation', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 413: 'too_large', 429: 'rate_limited', 503: 'unavailable' };

export function codeFor(status: number): ErrorCode {
  return CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request');
}

export interface Problem {
  /** Import file name, when the problem came from a file. */
  file?: string;
  /** 1-based data row as a spreadsheet shows it (the header is row 1). */
  row?: number;
  column?: string;
  /** Settings or request field, e.g. "window.startDays". */
  field?: string;
  reason: string;
}

export function describeProblem(p: Problem): string {
  const where = [p.file, p.row !== undefined ? `row ${p.row}` : undefined, p.column ? `column ${p.column}` : undefined, p.field ? `field ${p.field}` : undefined]
    .filter(Boolean)
    .join(', ');
  return where ? `${where}: ${p.reason}` : p.reason;
}

export abstract class ArrearsError extends Error {
  abstract readonly exitCode: number;
  abstract readonly httpStatus: number;
}

export class ValidationError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 400;
  constructor(readonly problems: Problem[]) {
    super(problems.map(describeProblem).join('\n'));
    this.name = 'ValidationError';
  }
  static of(reason: string, where: Omit<Problem, 'reason'> = {}): ValidationError {
    return new ValidationError([{ ...where, reason }]);
  }
}

export class NotFoundError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 404;
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends ArrearsError {
  readonly exitCode = 3;
  readonly httpStatus = 409;
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export class PermissionError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 403;
  constructor(permission: string) {
    super(`permission "${permission}" is required`);
    this.name = 'PermissionError';
  }
}
