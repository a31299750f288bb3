// What needs attention (GET /api/attention, services/attention.ts): on the Dashboard all of it,
// on the Connectors and Schedule screens what is theirs, so a role without the Dashboard sees
// its part where it works. Nothing at all when all is well; a failure to load it never hides
// the screen below.
import { get } from './api.ts';
import { useLoad } from './ui.tsx';

interface AttentionReply {
  items: { key: string; level: 'error' | 'warning' | 'notice'; screen: string; subject: string; message: string; since: string | null }[];
}

const LEVEL_LABEL = { error: 'Failing', warning: 'Delayed', notice: 'To review' } as const;

/** `screen`: only the items of that screen; `version`: a change of it loads the list again. */
export function Attention({ screen, version = 0 }: { screen?: string; version?: number }) {
  const { data } = useLoad(() => get<AttentionReply>('/attention'), [version]);
  const items = (data?.items ?? []).filter((i) => !screen || i.screen === screen);
  if (items.length === 0) return null;
  return (
    <section aria-labelledby={`attention-title${screen ? `-${screen}` : ''}`} className="attention">
      <h2 id={`attention-title${screen ? `-${screen}` : ''}`}>Needs attention</h2>
      <ul>
        {items.map((i) => (
          <li key={i.key} className={`attention-${i.level}`}>
            <strong>{LEVEL_LABEL[i.level]}:</strong> {screen ? i.subject : <a href={`#/${i.screen}`}>{i.subject}</a>} — {i.message}
            {i.since ? ` (since ${new Date(i.since).toLocaleString()})` : ''}
          </li>
        ))}
      </ul>
    </section>
  );
}
