// The one way the app talks to the server: JSON over /api with the session cookie. Error
// replies ({ error: { code, message, problems } }) become ApiError so screens can show each
// problem next to the field it names. Every reply to a signed-in request carries the
// session's CSRF token (X-CSRF-Token); it goes back with every POST, PATCH, PUT and DELETE.
// A 401 on anything but signing in means the session ended (idle, signed out elsewhere):
// the app hears it as the "arrears:signed-out" event.

export interface Problem {
  field?: string;
  reason: string;
  row?: number;
  column?: string;
  file?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems: Problem[] = [],
    /** The server's error code, e.g. "totp_required". */
    readonly code?: string,
  ) {
    super(message);
  }
}

const CSRF_HEADER = 'X-CSRF-Token';
let csrfToken = '';

function unsafeHeaders(): Record<string, string> {
  return csrfToken ? { [CSRF_HEADER]: csrfToken } : {};
}

async function parse<T>(res: Response, path: string): Promise<T> {
  const token = res.headers.get(CSRF_HEADER);
  if (token) csrfToken = token;
  const text = await res.text();
  const body: unknown = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string; problems?: Problem[] } } | null)?.error;
    if (res.status === 401 && path !== '/login' && path !== '/me') window.dispatchEvent(new Event('arrears:signed-out'));
    throw new ApiError(res.status, error?.message ?? `HTTP ${res.status}`, error?.problems ?? [], error?.code);
  }
  return body as T;
}

export async function get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const qs = params.toString();
  return parse<T>(await fetch(`/api${path}${qs ? `?${qs}` : ''}`, { credentials: 'same-origin' }), path);
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method: 'POST', credentials: 'same-origin', headers: unsafeHeaders() };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...unsafeHeaders(), 'content-type': 'application/json' };
  }
  return parse<T>(await fetch(`/api${path}`, init), path);
}

async function send<T>(method: 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: unsafeHeaders() };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...unsafeHeaders(), 'content-type': 'application/json' };
  }
  return parse<T>(await fetch(`/api${path}`, init), path);
}

export const patch = <T>(path: string, body: unknown) => send<T>('PATCH', path, body);
export const put = <T>(path: string, body: unknown) => send<T>('PUT', path, body);
export const del = <T>(path: string) => send<T>('DELETE', path);

export interface List<T> {
  items: T[];
  total: number;
}

export interface TwoFactor {
  enabled: boolean;
  required: boolean;
  enrolling: boolean;
  recoveryCodesLeft: number;
}

export interface Me {
  id: number;
  username: string;
  displayName: string;
  roles: string[];
  permissions: string[];
  twoFactor?: TwoFactor;
}

/** A multipart POST that reports the bytes sent (fetch cannot), for large import files. */
export function upload<T>(path: string, form: FormData, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api${path}`);
    for (const [name, value] of Object.entries(unsafeHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onerror = () => reject(new ApiError(0, 'the upload failed: no answer from the server'));
    xhr.onload = () => {
      const token = xhr.getResponseHeader(CSRF_HEADER);
      resolve(parse<T>(new Response(xhr.responseText || null, { status: xhr.status, headers: token ? { [CSRF_HEADER]: token } : {} }), path));
    };
    xhr.send(form);
  });
}
