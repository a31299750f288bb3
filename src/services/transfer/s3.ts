// S3 secure drop: one PutObject with Content-MD5, so the store rejects a body that arrived
// damaged. A custom endpoint (an S3-compatible store) is addressed path-style.
import { createHash } from 'node:crypto';
import type { Transfer } from './index.ts';
import { transferTimeouts } from './limits.ts';

/** The object key: the prefix is a folder ("library/" and "library" mean the same). */
export function objectKey(prefix: string | undefined, name: string): string {
  const p = (prefix ?? '').replace(/^\/+/, '');
  return p === '' ? name : `${p.replace(/\/+$/, '')}/${name}`;
}

export const s3Transfer: Transfer = {
  async send(file, agency, secrets) {
    const config = agency.transferConfig;
    const bucket = String(config.bucket);
    const key = objectKey(config.prefix === undefined ? undefined : String(config.prefix), file.name);
    const endpoint = config.endpoint ? String(config.endpoint) : undefined;
    if (config.accessKeyId && !secrets.secretAccessKey) throw new Error(`no secret access key is stored for agency "${agency.name}"`);
    const timeouts = transferTimeouts();
    // The AWS SDK (~0.3 s to load) only for an S3 delivery.
    const { PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
    const client = new S3Client({
      region: config.region ? String(config.region) : 'us-east-1',
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      // Without an access key id the SDK's own chain applies (environment, instance role).
      ...(config.accessKeyId ? { credentials: { accessKeyId: String(config.accessKeyId), secretAccessKey: secrets.secretAccessKey! } } : {}),
      // Content-MD5 is the integrity check; the SDK's extra checksums trip S3-compatible stores.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 1,
      // Without throwOnRequestTimeout the SDK only prints a warning and keeps waiting on a silent server.
      requestHandler: { connectionTimeout: timeouts.connectMs, requestTimeout: timeouts.transferMs, throwOnRequestTimeout: true },
    });
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: file.content,
          ContentLength: file.content.length,
          ContentMD5: createHash('md5').update(file.content).digest('base64'),
        }),
      );
      return { remote: `s3://${bucket}/${key}` };
    } finally {
      client.destroy();
    }
  },
};
