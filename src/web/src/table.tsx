// One table for every list in the app, so each screen says only its columns: the header
// row with scope="col", right-aligned figures and the visually hidden headers of checkbox
// and button columns come out the same everywhere.
import type { ReactNode } from 'react';

export interface Column<T> {
  /** The header; for a column of checkboxes or buttons, what a screen reader says. */
  header: string;
  /** Said by screen readers, not shown. */
  hideHeader?: boolean;
  /** A column of figures: header and cells aligned right. */
  num?: boolean;
  /** The cell's class when it depends on the row (num columns get theirs already). */
  cellClass?: (row: T) => string;
  cell: (row: T) => ReactNode;
}

export function DataTable<T>({
  caption,
  columns,
  rows,
  rowKey,
}: {
  caption?: ReactNode;
  columns: Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string | number;
}) {
  return (
    <table>
      {caption !== undefined && <caption>{caption}</caption>}
      <thead>
        <tr>
          {columns.map((c) => (
            <th scope="col" key={c.header} className={c.num ? 'num' : undefined}>
              {c.hideHeader ? <span className="sr-only">{c.header}</span> : c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={rowKey(row)}>
            {columns.map((c) => (
              <td key={c.header} className={c.cellClass ? c.cellClass(row) : c.num ? 'num' : undefined}>
                {c.cell(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** "1 file", "3 files": the captions that count a list. */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** Previous / Next over a list the server gives a page at a time. */
export function Pager({ offset, total, size, onOffset }: { offset: number; total: number; size: number; onOffset: (offset: number) => void }) {
  return (
    <div className="actions">
      <button type="button" className="secondary" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - size))}>
        Previous
      </button>
      <button type="button" className="secondary" disabled={offset + size >= total} onClick={() => onOffset(offset + size)}>
        Next
      </button>
    </div>
  );
}
