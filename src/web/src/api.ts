// The one way the app talks to the server: JSON over /api with the session cookie. Error
// replies ({ error: { message, problems } }) become ApiError so screens can show each
// problem next to the field it names.

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
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  const body: unknown = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const error = (body as { error?: { message?: string; problems?: Problem[] } } | null)?.error;
    throw new ApiError(res.status, error?.message ?? `HTTP ${res.status}`, error?.problems ?? []);
  }
  return body as T;
}

export async function get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  const qs = params.toString();
  return parse<T>(await fetch(`/api${path}${qs ? `?${qs}` : ''}`, { credentials: 'same-origin' }));
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method: 'POST', credentials: 'same-origin' };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  return parse<T>(await fetch(`/api${path}`, init));
}

async function send<T>(method: 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  return parse<T>(await fetch(`/api${path}`, init));
}

export const patch = <T>(path: string, body: unknown) => send<T>('PATCH', path, body);
export const put = <T>(path: string, body: unknown) => send<T>('PUT', path, body);
export const del = <T>(path: string) => send<T>('DELETE', path);

export interface List<T> {
  items: T[];
  total: number;
}

export interface Me {
  id: number;
  username: string;
  displayName: string;
  roles: string[];
  permissions: string[];
}

/** A multipart POST that reports the bytes sent (fetch cannot), for large import files. */
export function upload<T>(path: string, form: FormData, onProgress: (sent: number, total: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api${path}`);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    xhr.onerror = () => reject(new ApiError(0, 'the upload failed: no answer from the server'));
    xhr.onload = () => resolve(parse<T>(new Response(xhr.responseText || null, { status: xhr.status })));
    xhr.send(form);
  });
}
