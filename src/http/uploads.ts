// Uploaded files (ledger imports, agencies' .xlsx / .csv files) go to a private temporary
// folder under their own base name, so the services read them exactly as the CLI reads a
// path, and problems name the file the user chose. The folder is removed afterwards.
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { ValidationError } from '../domain/errors.ts';

export interface Upload {
  path: string;
  /** The name the client gave, made safe. */
  filename: string;
  /** The form's other fields, as text. */
  fields: Record<string, string>;
}

function safeName(name: string): string {
  const base = basename(name.replace(/\\/g, '/')).replace(/[^A-Za-z0-9._ -]/g, '_').replace(/^\.+/, '');
  return base.slice(-120) || 'upload';
}

/**
 * Receives a multipart/form-data request with one file in the field `file`, writes it to a
 * temporary folder, runs `use` on it and removes the folder, whatever happens.
 */
export async function withUpload<T>(request: FastifyRequest, extensions: readonly string[], use: (upload: Upload) => Promise<T>): Promise<T> {
  if (!request.isMultipart()) throw ValidationError.of('send the file as multipart/form-data, in a field named "file"', { field: 'file' });
  const dir = await mkdtemp(join(tmpdir(), 'arrears-upload-'));
  try {
    const fields: Record<string, string> = {};
    let upload: Upload | undefined;
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        fields[part.fieldname] = String(part.value);
        continue;
      }
      if (part.fieldname !== 'file' || upload) {
        part.file.resume();
        throw ValidationError.of(upload ? 'send one file only' : `the file must be in a field named "file", not "${part.fieldname}"`, { field: 'file' });
      }
      const filename = safeName(part.filename);
      const ext = extname(filename).toLowerCase();
      if (!extensions.includes(ext)) {
        part.file.resume();
        throw ValidationError.of(`must be a ${extensions.join(' or ')} file, not "${ext || 'no extension'}"`, { field: 'file', file: filename });
      }
      const path = join(dir, filename);
      await pipeline(part.file, createWriteStream(path, { flags: 'wx', mode: 0o600 }));
      upload = { path, filename, fields };
    }
    if (!upload) throw ValidationError.of('no file was sent: put it in a field named "file"', { field: 'file' });
    return await use(upload);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A form field that means yes: "true", "1", "yes" or "on". */
export function yes(value: string | undefined): boolean {
  return value !== undefined && /^(true|1|yes|on)$/i.test(value.trim());
}
