// One table for every list in the app, so each screen says only its columns: the header
// row with scope="col", right-aligned figures and the visually hidden headers of checkbox
// and button columns come out the same everywhere, and so do the list tools: sort by any
// column (click its header), filter by text (case-insensitive, anywhere in a row), pages,
// and export to CSV. A list the server pages (referrals, files, the audit log, patrons)
// passes `server` and the same controls ask the server instead.
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

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
  /** The cell as plain text: what the filter searches, sorting compares and the CSV holds. Needed when cell() gives markup. */
  text?: (row: T) => string;
  /** What sorting compares when the text would not do (cents, dates); numbers sort as numbers. */
  sortValue?: (row: T) => string | number | null;
  /** Server-paged lists: the server's name for sorting by this column; without one the column does not sort. */
  sortKey?: string;
  /** Buttons and checkboxes: not sorted, filtered or exported. */
  action?: boolean;
}

/** A list the server sorts, filters and pages: the table shows the controls and reports changes. */
export interface ServerList<T> {
  total: number;
  offset: number;
  limit: number;
  /** A column's sortKey, with a leading "-" for descending; "" = the server's own order. */
  sort: string;
  filter: string;
  onChange: (query: ListQuery) => void;
  /** Every row the filter matches, for the CSV export. */
  exportAll: () => Promise<readonly T[]>;
  /** The rows shown are still those of the last query (the table says it is busy). */
  loading?: boolean;
}

export interface ListQuery {
  offset: number;
  limit: number;
  sort: string;
  filter: string;
}

export const PAGE_SIZES = [10, 25, 50, 100];

function plainText<T>(c: Column<T>, row: T): string {
  if (c.text) return c.text(row);
  const v = c.cell(row);
  return typeof v === 'string' || typeof v === 'number' ? String(v) : '';
}

/** "$1,234.50", "-3", "12%" → a number; anything else → null. */
function asNumber(text: string): number | null {
  const t = text.replace(/[$,%\s]/g, '');
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : null;
}

function sortValue<T>(c: Column<T>, row: T): string | number | null {
  if (c.sortValue) return c.sortValue(row);
  const text = plainText(c, row);
  if (c.num) return asNumber(text) ?? text;
  return text;
}

function compare(a: string | number | null, b: string | number | null): number {
  if (a === null || a === '') return b === null || b === '' ? 0 : 1;
  if (b === null || b === '') return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' });
}

/** A spreadsheet must never run a cell as a formula: text starting with = + - @ tab or CR gets a leading '. */
export function csvCell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) && asNumber(text) === null ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv<T>(columns: Column<T>[], rows: readonly T[]): string {
  const cols = columns.filter((c) => !c.action);
  return [cols.map((c) => csvCell(c.header)).join(','), ...rows.map((r) => cols.map((c) => csvCell(plainText(c, r))).join(','))].join('\r\n') + '\r\n';
}

/** Offers text as a file download, as a link with the download attribute would. */
export function downloadText(name: string, text: string, type = 'text/csv;charset=utf-8'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

export function DataTable<T>({
  caption,
  columns,
  rows,
  rowKey,
  name = 'list',
  pageSize = 25,
  plain = false,
  server,
  rowClass,
  filterLabel,
}: {
  caption?: ReactNode;
  columns: Column<T>[];
  rows: readonly T[];
  rowKey: (row: T) => string | number;
  /** What the list holds, plural ("referrals"): names the filter, the export and its file. */
  name?: string;
  /** Rows per page (the reader can change it); 0 = no pages. */
  pageSize?: number;
  /** A small fixed table (a few conditions, a diff): no tools. */
  plain?: boolean;
  server?: ServerList<T>;
  rowClass?: (row: T) => string | undefined;
  /** A visible label for the filter box when it is the screen's search ("Find a patron"). */
  filterLabel?: string;
}) {
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ index: number; desc: boolean } | null>(null);
  const [offset, setOffset] = useState(0);
  const [size, setSize] = useState(pageSize);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState('');

  // The server's filter follows the box after a pause in typing.
  const [draft, setDraft] = useState(server?.filter ?? '');
  const serverRef = useRef(server);
  serverRef.current = server;
  useEffect(() => {
    const s = serverRef.current;
    if (!s || draft === s.filter) return;
    const t = setTimeout(() => s.onChange({ offset: 0, limit: s.limit, sort: s.sort, filter: draft }), 300);
    return () => clearTimeout(t);
  }, [draft]);

  const shown = useMemo(() => {
    if (server || plain) return rows;
    const needle = filter.trim().toLowerCase();
    let list = needle ? rows.filter((r) => columns.some((c) => !c.action && plainText(c, r).toLowerCase().includes(needle))) : [...rows];
    if (sort) {
      const c = columns[sort.index]!;
      list = list
        .map((r, i) => ({ r, i, v: sortValue(c, r) }))
        .sort((a, b) => (sort.desc ? compare(b.v, a.v) : compare(a.v, b.v)) || a.i - b.i)
        .map((x) => x.r);
    }
    return list;
  }, [rows, columns, filter, sort, server, plain]);

  const total = server ? server.total : shown.length;
  const from = server ? server.offset : size > 0 ? Math.min(offset, Math.max(0, Math.floor((total - 1) / size) * size)) : 0;
  const limit = server ? server.limit : size;
  const page = server || plain || size === 0 ? shown : shown.slice(from, from + size);

  function sortBy(index: number) {
    const c = columns[index]!;
    if (server) {
      const key = c.sortKey!;
      server.onChange({ offset: 0, limit: server.limit, filter: server.filter, sort: server.sort === key ? `-${key}` : key });
      return;
    }
    setSort(sort?.index === index ? { index, desc: !sort.desc } : { index, desc: false });
    setOffset(0);
  }

  function sortState(index: number): 'ascending' | 'descending' | undefined {
    const c = columns[index]!;
    if (server) return c.sortKey && server.sort === c.sortKey ? 'ascending' : c.sortKey && server.sort === `-${c.sortKey}` ? 'descending' : undefined;
    return sort?.index === index ? (sort.desc ? 'descending' : 'ascending') : undefined;
  }

  async function exportCsv() {
    setExportError('');
    setExporting(true);
    try {
      const all = server ? await server.exportAll() : shown;
      downloadText(`${name.replace(/\W+/g, '-')}-${today()}.csv`, toCsv(columns, all));
    } catch (err) {
      setExportError(`The export failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      setExporting(false);
    }
  }

  const sortable = (c: Column<T>) => !plain && !c.action && (!server || c.sortKey !== undefined);
  const table = (
    <table aria-busy={server?.loading ? true : undefined} className={server?.loading ? 'stale' : undefined}>
      {caption !== undefined && <caption>{caption}</caption>}
      <thead>
        <tr>
          {columns.map((c, i) => (
            <th scope="col" key={c.header} className={c.num ? 'num' : undefined} aria-sort={sortState(i)}>
              {c.hideHeader ? (
                <span className="sr-only">{c.header}</span>
              ) : sortable(c) ? (
                <button type="button" className="sort" onClick={() => sortBy(i)} title={`Sort by ${c.header}`}>
                  {c.header}
                  <span aria-hidden="true" className="sort-mark">
                    {sortState(i) === 'ascending' ? ' ▲' : sortState(i) === 'descending' ? ' ▼' : ' ↕'}
                  </span>
                </button>
              ) : (
                c.header
              )}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {page.map((row) => (
          <tr key={rowKey(row)} className={rowClass?.(row)}>
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
  if (plain) return table;
  const filtering = server ? server.filter !== '' : filter.trim() !== '';
  return (
    <div className="datatable">
      <div className="table-tools">
        <label className={filterLabel ? 'search' : undefined}>
          {filterLabel ? <span>{filterLabel}</span> : <span className="sr-only">Filter {name}</span>}
          <input
            type="search"
            placeholder={filterLabel ? 'id, barcode, name or email' : `Filter ${name}…`}
            value={server ? draft : filter}
            onChange={(e) => {
              if (server) setDraft(e.target.value);
              else {
                setFilter(e.target.value);
                setOffset(0);
              }
            }}
          />
        </label>
        <span className="count" role="status">
          {filtering ? `${total} ${total === 1 ? 'match' : 'matches'}` : `${total} ${total === 1 ? 'row' : 'rows'}`}
        </span>
        <button type="button" className="secondary" onClick={exportCsv} disabled={exporting || total === 0}>
          {exporting ? 'Exporting…' : 'Export CSV'}
        </button>
      </div>
      {exportError && (
        <p className="error" role="alert">
          {exportError}
        </p>
      )}
      <div className="table-scroll">{table}</div>
      {filtering && total === 0 && <p>Nothing matches “{server ? server.filter : filter}”.</p>}
      {(limit > 0 && total > Math.min(...PAGE_SIZES)) && (
        <Pager
          offset={from}
          total={total}
          size={limit}
          onOffset={(o) => (server ? server.onChange({ offset: o, limit: server.limit, sort: server.sort, filter: server.filter }) : setOffset(o))}
          onSize={(n) => (server ? server.onChange({ offset: 0, limit: n, sort: server.sort, filter: server.filter }) : (setSize(n), setOffset(0)))}
          label={name}
        />
      )}
    </div>
  );
}

/** "1 file", "3 files": the captions that count a list. */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/** Previous / Next over a list shown a page at a time, with where the page is and its size. */
export function Pager({
  offset,
  total,
  size,
  onOffset,
  onSize,
  label = 'rows',
}: {
  offset: number;
  total: number;
  size: number;
  onOffset: (offset: number) => void;
  onSize?: (size: number) => void;
  label?: string;
}) {
  const last = Math.min(total, offset + size);
  return (
    <nav className="pager" aria-label={`Pages of ${label}`}>
      <button type="button" className="secondary" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - size))}>
        Previous
      </button>
      <span className="where">
        {total === 0 ? 'none' : `${offset + 1}–${last} of ${total}`}
      </span>
      <button type="button" className="secondary" disabled={offset + size >= total} onClick={() => onOffset(offset + size)}>
        Next
      </button>
      {onSize && (
        <label>
          Per page{' '}
          <select value={size} onChange={(e) => onSize(Number(e.target.value))}>
            {[...new Set([...PAGE_SIZES, size])].sort((a, b) => a - b).map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
      )}
    </nav>
  );
}

/** The state of a server-paged list, kept by the screen that loads it. */
export function useListQuery(initial: Partial<ListQuery> = {}) {
  const [query, setQuery] = useState<ListQuery>({ offset: 0, limit: 25, sort: '', filter: '', ...initial });
  return { query, setQuery };
}

/** Every page of a server list, for an export (at most `cap` rows). */
export async function fetchAll<T>(load: (offset: number, limit: number) => Promise<{ items: T[]; total: number }>, cap = 50_000): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; offset < cap; offset += 500) {
    const page = await load(offset, 500);
    out.push(...page.items);
    if (out.length >= page.total || page.items.length === 0) break;
  }
  return out;
}
