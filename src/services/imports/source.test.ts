import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ExcelJS from 'exceljs';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../domain/errors.ts';
import { openSource, parserMessage } from './source.ts';

const dir = mkdtempSync(join(tmpdir(), 'arrears-source-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string): Promise<ValidationError | undefined> {
  try {
    for await (const _ of openSource(path).rows);
    return undefined;
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
}

describe('parserMessage', () => {
  it('keeps one printable line of at most 200 characters', () => {
    expect(parserMessage(new Error('bad\u0000\u0002 entry\nLine: 3'))).toBe('bad entry Line: 3');
    const long = parserMessage(new Error('x'.repeat(5000)));
    expect(long).toHaveLength(200);
    expect(long.endsWith('…')).toBe(true);
    expect(parserMessage('plain')).toBe('plain');
  });
});

describe('a damaged .xlsx central directory', () => {
  // CI found this: one byte set to 0x02 in the zip's central directory made the zip reader
  // quote 582 bytes of binary entry names back as the problem.
  it('gives a short problem naming the file for every damaged byte', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Sheet1');
    ws.addRow(['code', 'name', 'time_zone']);
    ws.addRow(['ZL1', 'Fuzz Branch', 'America/Chicago']);
    const whole = Buffer.from(await wb.xlsx.writeBuffer());
    const directory = whole.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    expect(directory).toBeGreaterThan(0);
    let refused = 0;
    for (let at = directory; at < whole.length; at++) {
      const damaged = Buffer.from(whole);
      damaged[at] = 2;
      const path = join(dir, `d${at}.xlsx`);
      writeFileSync(path, damaged);
      const err = await readAll(path);
      if (!err) continue;
      refused++;
      for (const p of err.problems) {
        expect(p.file).toBe(`d${at}.xlsx`);
        expect(p.reason.length, p.reason).toBeLessThanOrEqual(230);
        // eslint-disable-next-line no-control-regex -- a control character is what must not appear
        expect(p.reason).not.toMatch(/[\u0000-\u001f]/);
      }
    }
    expect(refused).toBeGreaterThan(100);
  }, 120_000);
});
