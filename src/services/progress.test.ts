import { describe, expect, it } from 'vitest';
import { ConflictError } from '../domain/errors.ts';
import { ProgressBoard, withProgress, type ProgressState } from './progress.ts';

function recorder() {
  const seen: ProgressState[] = [];
  return { seen, listener: (s: ProgressState) => seen.push(s) };
}

describe('ProgressBoard', () => {
  it('tells a watcher who came before the work every phase change and the end', async () => {
    const board = new ProgressBoard({ intervalMs: 60_000 });
    const r = recorder();
    board.watch('u1:a', r.listener);
    await withProgress(board, 'u1:a', 'run', async (tracker) => {
      tracker!.update({ phase: 'evaluating', unit: 'steps', done: 2, total: 6 });
      // Within the interval and the same phase: held back, the next change carries it.
      tracker!.update({ done: 3 });
      tracker!.update({ phase: 'files', done: 4 });
    });
    expect(r.seen.map((s) => [s.phase, s.done])).toEqual([
      ['starting', 0],
      ['evaluating', 2],
      ['files', 4],
      ['done', 4],
    ]);
    expect(r.seen.at(-1)).toMatchObject({ finished: true, ok: true, error: null, kind: 'run' });
  });

  it('gives a late watcher the state now, and ends failed work with its message', async () => {
    const board = new ProgressBoard();
    await expect(
      withProgress(board, 'u1:b', 'import', async (tracker) => {
        tracker!.update({ phase: 'reading', rows: 1000 });
        throw new Error('row 7: unknown library');
      }),
    ).rejects.toThrow('row 7');
    const r = recorder();
    board.watch('u1:b', r.listener);
    expect(r.seen).toEqual([expect.objectContaining({ phase: 'failed', rows: 1000, finished: true, ok: false, error: 'row 7: unknown library' })]);
  });

  it('refuses a second start under a key still running, and runs untracked work without a key', async () => {
    const board = new ProgressBoard();
    const tracker = board.start('u1:c', 'run');
    expect(() => board.start('u1:c', 'run')).toThrow(ConflictError);
    tracker.finish();
    expect(() => board.start('u1:c', 'run').finish()).not.toThrow();
    await expect(withProgress(board, undefined, 'run', async (t) => t)).resolves.toBeUndefined();
  });

  it('stops telling a watcher that unsubscribed', () => {
    const board = new ProgressBoard();
    const r = recorder();
    const stop = board.watch('u1:d', r.listener);
    const tracker = board.start('u1:d', 'run');
    stop();
    tracker.update({ phase: 'files' });
    tracker.finish();
    expect(r.seen.map((s) => s.phase)).toEqual(['starting']);
  });
});
