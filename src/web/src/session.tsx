// What every screen may ask of the app around it: who is signed in and what they may do (so a
// screen shows only the controls the role can use; the server checks every call anyway), the
// libraries' names, links to a patron, and a confirmation dialog for actions that move money,
// refer, cancel or delete.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { get, type List, type Me } from './api.ts';
import { formatCents, toCents } from './money.ts';

export const MeContext = createContext<Me | null>(null);

/** Whether the signed-in user holds a permission. */
export function useCan(): (permission: string) => boolean {
  const me = useContext(MeContext);
  return useCallback((permission: string) => me?.permissions.includes(permission) ?? false, [me]);
}

export function useMe(): Me | null {
  return useContext(MeContext);
}

export interface Library {
  code: string;
  name: string;
  timeZone: string;
}

const LibrariesContext = createContext<Map<string, Library>>(new Map());

/** Loads the libraries once for the whole app (for those who may see the ledger). */
export function LibrariesProvider({ enabled, children }: { enabled: boolean; children: ReactNode }) {
  const [libraries, setLibraries] = useState<Map<string, Library>>(new Map());
  useEffect(() => {
    if (!enabled) return;
    get<List<Library>>('/libraries').then(
      (l) => setLibraries(new Map(l.items.map((x) => [x.code, x]))),
      () => undefined,
    );
  }, [enabled]);
  return <LibrariesContext.Provider value={libraries}>{children}</LibrariesContext.Provider>;
}

export function useLibraries(): Map<string, Library> {
  return useContext(LibrariesContext);
}

/** "Main Library (MAIN)", or the code alone when the name is not known. */
export function libraryLabel(libraries: Map<string, Library>, code: string): string {
  const l = libraries.get(code);
  return l && l.name && l.name !== code ? `${l.name} (${code})` : code;
}

export function LibraryName({ code }: { code: string }) {
  return <>{libraryLabel(useLibraries(), code)}</>;
}

export function patronHref(id: string): string {
  return `#/patrons/${encodeURIComponent(id)}`;
}

/** A patron id that opens the patron's page, wherever it is shown. */
export function PatronLink({ id, children }: { id: string; children?: ReactNode }) {
  const can = useCan();
  if (!can('ledger.view')) return <>{children ?? id}</>;
  return (
    <a href={patronHref(id)} className="patron-link">
      {children ?? id}
    </a>
  );
}

/** A decimal amount from the server ("1234.50") as money ("$1,234.50"). */
export function money(amount: string | null | undefined): string {
  if (amount === null || amount === undefined || amount === '') return '';
  return formatCents(toCents(amount));
}

// --- confirmation --------------------------------------------------------------------------

export interface Ask {
  /** The question, naming what will happen: "Waive $48.00 on 3 patrons?" */
  title: string;
  body?: ReactNode;
  /** The button that does it: "Waive $48.00". */
  confirm: string;
  danger?: boolean;
}

const ConfirmContext = createContext<(ask: Ask) => Promise<boolean>>(() => Promise.resolve(false));

/** Asks before an action; resolves true only when the person confirms. */
export function useConfirm(): (ask: Ask) => Promise<boolean> {
  return useContext(ConfirmContext);
}

export function ConfirmProvider({ children }: { children: ReactNode }) {
  const [ask, setAsk] = useState<(Ask & { resolve: (ok: boolean) => void }) | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (ask && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [ask]);
  const confirm = useCallback((a: Ask) => new Promise<boolean>((resolve) => setAsk({ ...a, resolve })), []);
  function close(ok: boolean) {
    if (!ask) return;
    ask.resolve(ok);
    dialog.current?.close();
    setAsk(null);
  }
  return (
    <ConfirmContext.Provider value={confirm}>
      {children}
      {ask && (
        <dialog
          ref={dialog}
          className="confirm"
          aria-labelledby="confirm-title"
          aria-describedby="confirm-body"
          onCancel={(e) => {
            // Escape: the same as Cancel.
            e.preventDefault();
            close(false);
          }}
        >
          <h2 id="confirm-title">{ask.title}</h2>
          <div id="confirm-body">{ask.body}</div>
          <div className="actions">
            <button type="button" className="secondary" autoFocus onClick={() => close(false)}>
              Cancel
            </button>
            <button type="button" className={ask.danger ? 'danger' : undefined} onClick={() => close(true)}>
              {ask.confirm}
            </button>
          </div>
        </dialog>
      )}
    </ConfirmContext.Provider>
  );
}
