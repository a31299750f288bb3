// A local (or mounted) directory: write a temporary file beside the target, flush it, then
// rename, so a reader never sees half a file. The directory must exist: creating it could
// write into the mount point of a share that is not mounted.
import { randomBytes } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transfer } from './index.ts';

export const folderTransfer: Transfer = {
  async send(file, agency) {
    const folder = String(agency.transferConfig.path);
    const dir = await stat(folder).catch(() => null);
    if (!dir?.isDirectory()) throw new Error(`folder ${folder} does not exist or is not a directory`);
    const target = join(folder, file.name);
    const existing = await stat(target).catch(() => null);
    if (existing) {
      if (existing.isFile() && existing.size === file.content.length) return { remote: target };
      throw new Error(`${target} already exists with ${existing.size} bytes (this file has ${file.content.length}); it was not overwritten`);
    }
    const temp = join(folder, `.${file.name}.${randomBytes(4).toString('hex')}.part`);
    try {
      const handle = await open(temp, 'wx', 0o640);
      try {
        await handle.writeFile(file.content);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { remote: target };
  },
};
