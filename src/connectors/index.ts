// The connector drivers by kind, loaded only when used: a library without Koha never loads mysql2.
import type { ConnectorDriver, ConnectorKind, Mapping } from './types.ts';

export async function loadDriver(kind: ConnectorKind): Promise<ConnectorDriver> {
  switch (kind) {
    case 'koha':
      return (await import('./koha/index.ts')).kohaDriver;
    case 'evergreen':
      return (await import('./evergreen/index.ts')).evergreenDriver;
  }
}

/** The driver's stock mapping with a library's overrides on top, section by section. */
export function mergeMapping(stock: Mapping, overrides: Partial<Mapping> | undefined): Mapping {
  const o = overrides ?? {};
  return {
    charges: { ...stock.charges, ...o.charges },
    payments: { ...stock.payments, ...o.payments },
    methods: { ...stock.methods, ...o.methods },
    libraries: { ...stock.libraries, ...o.libraries },
  };
}
