// What the Koha and Evergreen connectors do alike: read the connection URL, turn a driver's
// error into IlsUnavailable, and word what they write into the ILS.
import { asIlsError } from './errors.ts';
import type { ConnectorConfig, WriteIntent } from './types.ts';

/**
 * The connector's URL, checked to be one of the ILS's database (`protocols`, e.g. mysql: and
 * mariadb:); `example` shows its form in the error.
 */
export function connectionUrl(config: Pick<ConnectorConfig, 'name' | 'url'>, ils: string, protocols: readonly string[], example: string): URL {
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new Error(`connector "${config.name}": the connection URL is not a URL (${example})`);
  }
  if (!protocols.includes(url.protocol)) throw new Error(`connector "${config.name}": ${ils} connection URL starts with ${protocols[0]}//, not ${url.protocol}//`);
  return url;
}

/** Runs `work`; an error meaning the ILS cannot be reached or refuses us comes back as IlsUnavailable naming the connector. */
export async function guarded<T>(connector: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asIlsError(connector, err);
  }
}

/** A comment or description template with the write's {agency} and {date} filled in. */
export function fill(template: string, w: Pick<WriteIntent, 'agency' | 'date'>): string {
  return template.replace(/\{agency\}/g, w.agency).replace(/\{date\}/g, w.date);
}

/** What Arrears writes in the note of a fee it posts: how a retry finds the fee it already posted. */
export function feeMarker(w: Pick<WriteIntent, 'idempotencyKey'>, connector: string): string {
  return `Arrears ${connector} ${w.idempotencyKey}`;
}
