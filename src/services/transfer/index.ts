// How a stored file reaches an agency: one small interface, one module per transfer method.
// Senders throw on failure; delivery.ts records the attempt and retries later.
import type { AgencyRow, AgencySecrets, TransferMethod } from '../agencies.ts';
import { destinationProblem } from './allow.ts';
import { emailTransfer } from './email.ts';
import { folderTransfer } from './folder.ts';
import { s3Transfer } from './s3.ts';
import { sftpTransfer } from './sftp.ts';

export interface TransferFile {
  name: string;
  content: Buffer;
}

export interface Transfer {
  /** Resolves once the whole file is at the agency; `remote` says where (no secrets in it). */
  send(file: TransferFile, agency: AgencyRow, secrets: AgencySecrets): Promise<{ remote: string }>;
}

const TRANSFERS: Record<Exclude<TransferMethod, 'none'>, Transfer> = {
  sftp: sftpTransfer,
  s3: s3Transfer,
  email: emailTransfer,
  folder: folderTransfer,
};

/**
 * The sender for a method; null for 'none' (such files are downloaded by staff, never sent).
 * It refuses a destination the operator no longer allows (ARREARS_TRANSFER_ALLOW) before connecting.
 */
export function transferFor(method: TransferMethod): Transfer | null {
  if (method === 'none') return null;
  const transfer = TRANSFERS[method];
  return {
    send(file, agency, secrets) {
      const refused = destinationProblem({ method, config: agency.transferConfig });
      if (refused) return Promise.reject(new Error(`refused to send: transfer setting ${refused.key} ${refused.reason}`));
      return transfer.send(file, agency, secrets);
    },
  };
}
