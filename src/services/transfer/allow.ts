// Where files may be sent. Folder paths, SFTP folders and S3 prefixes never climb out with
// "..", and a folder is an absolute path. The operator can go further and list every place an
// administrator may aim a transfer at, in ARREARS_TRANSFER_ALLOW (comma-separated):
//   sftp.agency.example, *.agency.example, 127.0.0.1:2222   hosts (SFTP servers, S3 endpoints)
//   /srv/arrears/outbox                                      folders (that folder or inside it)
// S3 without an endpoint is AWS (s3.<region>.amazonaws.com), allowed by an entry such as
// *.amazonaws.com. Email goes through the operator's own relay and is not listed. Checked when
// an agency is saved and again before every delivery (the list may have changed since).
import { isAbsolute, normalize, sep } from 'node:path';

export const TRANSFER_ALLOW_VARIABLE = 'ARREARS_TRANSFER_ALLOW';

export interface Destination {
  method: string;
  config: Record<string, string | number>;
}

/** A problem with a destination: the transfer setting it names, and why. */
export interface DestinationProblem {
  key: string;
  reason: string;
}

function climbsOut(path: string): boolean {
  return path.split(/[/\\]+/).includes('..');
}

interface Allowed {
  hosts: string[];
  folders: string[];
}

function allowedFrom(env: NodeJS.ProcessEnv): Allowed | null {
  const entries = (env[TRANSFER_ALLOW_VARIABLE] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (entries.length === 0) return null;
  return { hosts: entries.filter((e) => !e.startsWith('/')).map((e) => e.toLowerCase()), folders: entries.filter((e) => e.startsWith('/')).map((e) => normalize(e).replace(/\/+$/, '') || '/') };
}

function hostAllowed(host: string, port: number | undefined, patterns: string[]): boolean {
  const h = host.toLowerCase();
  return patterns.some((pattern) => {
    const m = /^(.*?)(?::(\d+))?$/.exec(pattern)!;
    const [name, portText] = [m[1]!, m[2]];
    if (portText !== undefined && Number(portText) !== port) return false;
    return name.startsWith('*.') ? h.endsWith(name.slice(1)) && h.length > name.length - 1 : h === name;
  });
}

function folderAllowed(path: string, roots: string[]): boolean {
  const p = normalize(path).replace(/\/+$/, '') || '/';
  return roots.some((root) => p === root || p.startsWith(root === '/' ? '/' : root + sep));
}

/** What is wrong with aiming a transfer at this destination, or null. */
export function destinationProblem(destination: Destination, env: NodeJS.ProcessEnv = process.env): DestinationProblem | null {
  const { method, config } = destination;
  const allowed = allowedFrom(env);
  const listed = `not among the destinations the operator allows (${TRANSFER_ALLOW_VARIABLE})`;
  if (method === 'folder') {
    const path = String(config.path ?? '');
    if (!isAbsolute(path)) return { key: 'path', reason: 'must be an absolute path (starting with /)' };
    if (climbsOut(path)) return { key: 'path', reason: 'must not contain ".." (write the folder itself)' };
    if (allowed && !folderAllowed(path, allowed.folders)) return { key: 'path', reason: `is ${listed}` };
  }
  if (method === 'sftp') {
    if (config.remoteFolder !== undefined && climbsOut(String(config.remoteFolder))) return { key: 'remoteFolder', reason: 'must not contain ".."' };
    if (allowed && !hostAllowed(String(config.host ?? ''), Number(config.port ?? 22), allowed.hosts)) return { key: 'host', reason: `is ${listed}` };
  }
  if (method === 's3') {
    if (config.prefix !== undefined && climbsOut(String(config.prefix))) return { key: 'prefix', reason: 'must not contain ".."' };
    if (allowed) {
      let host: string;
      let port: number | undefined;
      if (config.endpoint) {
        const url = new URL(String(config.endpoint));
        host = url.hostname.replace(/^\[|\]$/g, '');
        port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
      } else {
        host = `s3.${String(config.region ?? 'us-east-1')}.amazonaws.com`;
        port = 443;
      }
      if (!hostAllowed(host, port, allowed.hosts)) return { key: config.endpoint ? 'endpoint' : 'region', reason: `(${host}) is ${listed}` };
    }
  }
  return null;
}
