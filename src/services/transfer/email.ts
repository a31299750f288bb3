// Email through the site's SMTP relay (ARREARS_SMTP_URL), the file attached under its own
// name. The agency's settings give from, to, cc and subject (seed 002 limits, validated in
// agencies.ts).
import { hostname } from 'node:os';
import type { Transfer } from './index.ts';
import { transferTimeouts } from './limits.ts';

/** The SMTP password inside ARREARS_SMTP_URL, so error messages can be scrubbed of it. */
export function smtpPassword(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : null;
  } catch {
    return null;
  }
}

export function defaultSubject(name: string): string {
  return `${name} from ${process.env.ARREARS_LIBRARY_SYSTEM || 'Arrears'}`;
}

/** The sender of mail Arrears writes itself: ARREARS_SMTP_FROM, else arrears@<this host>. */
export function defaultFrom(): string {
  return process.env.ARREARS_SMTP_FROM || `arrears@${hostname()}`;
}

/** A transport to the site's relay (ARREARS_SMTP_URL) with the transfer timeouts; `why` says what needs it when it is not set. */
export async function smtpTransport(why: string) {
  const url = process.env.ARREARS_SMTP_URL;
  if (!url) throw new Error(`ARREARS_SMTP_URL is not set: ${why} needs the SMTP relay, e.g. smtps://user:password@mail.example.org:465`);
  if (!/^smtps?:\/\//.test(url)) throw new Error('ARREARS_SMTP_URL must start with smtp:// or smtps://');
  const timeouts = transferTimeouts();
  // Loaded by the first mail sent, not by every command that imports the senders.
  const { default: nodemailer } = await import('nodemailer');
  return nodemailer.createTransport({ url, connectionTimeout: timeouts.connectMs, greetingTimeout: timeouts.connectMs, socketTimeout: timeouts.transferMs });
}

export const emailTransfer: Transfer = {
  async send(file, agency) {
    const transport = await smtpTransport('email delivery');
    const config = agency.transferConfig;
    try {
      const to = String(config.to);
      const info = await transport.sendMail({
        from: config.from ? String(config.from) : defaultFrom(),
        to,
        ...(config.cc ? { cc: String(config.cc) } : {}),
        subject: config.subject ? String(config.subject) : defaultSubject(file.name),
        text: `The attached file ${file.name} (${file.content.length} bytes) is sent to ${agency.name} by Arrears.`,
        attachments: [{ filename: file.name, content: file.content, contentType: 'application/octet-stream' }],
      });
      return { remote: `mailto:${to} (${info.messageId})` };
    } finally {
      transport.close();
    }
  },
};
