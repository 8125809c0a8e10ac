// Reading the audit log from a CLI verb: through a running server's API
// (`GET /api/v1/audit/events`) when MANDATE_URL answers — the server may be on
// another machine, and the admin credential is what reads it — else straight from
// the store of the local data directory (read only; safe beside a running server).
import type { StoredAuditEvent } from '../audit/event.ts';
import type { Config } from '../config.ts';
import { MandateError } from '../errors.ts';
import type { RecordedDecision } from '../policy/replay.ts';
import { openStore } from '../store/open.ts';
import type { ApiClient } from './api-client.ts';

const PAGE = 1000;

/** An audit event as either source gives it, reduced to what replay needs. */
interface Page {
  seq: number;
  time: number;
  kind: string;
  decision: RecordedDecision | null;
}

export interface AuditReader {
  /** Where the events come from, for people: `http://…` or `the store in <dir>`. */
  readonly source: string;
  /** Events with seq > `after`, oldest first, at most `limit`. */
  page(after: number, limit: number): Promise<Page[]>;
  last(): Promise<Page | null>;
  close(): Promise<void>;
}

interface ApiEvent {
  seq: number; time: string; kind: string; server: string; person: string | null; agents: string[]; method: string | null; tool: string | null;
  decision: 'allow' | 'deny' | null; reason: string | null; policies: string[]; policy_set_hash: string | null; request?: RecordedDecision['request'];
}

const fromApi = (e: ApiEvent): Page => {
  const time = Date.parse(e.time);
  return {
    seq: e.seq, time, kind: e.kind,
    decision: e.kind !== 'decision' ? null : {
      seq: e.seq, time, person: e.person, agent: e.agents[0] ?? null, server: e.server, method: e.method, target: e.tool,
      decision: e.decision, reason: e.reason, policies: e.policies, policySetHash: e.policy_set_hash, request: e.request ?? null,
    },
  };
};

const fromStore = (e: StoredAuditEvent): Page => ({
  seq: e.seq, time: e.time, kind: e.kind,
  decision: e.kind !== 'decision' ? null : {
    seq: e.seq, time: e.time, person: e.person, agent: e.agents[0] ?? null, server: e.server, method: e.method, target: e.tool,
    decision: e.decision, reason: e.reason, policies: e.policies, policySetHash: e.policySetHash, request: e.request ?? null,
  },
});

function apiReader(api: ApiClient): AuditReader {
  const page = async (after: number, limit: number): Promise<Page[]> =>
    (await api.request<{ events: ApiEvent[] }>('GET', `/api/v1/audit/events?after=${after}&limit=${limit}`)).events.map(fromApi);
  return {
    source: api.baseUrl, page,
    last: async () => (await api.request<{ events: ApiEvent[] }>('GET', '/api/v1/audit/events?limit=1')).events.map(fromApi)[0] ?? null,
    close: async () => undefined,
  };
}

async function storeReader(config: Config): Promise<AuditReader> {
  const store = await openStore(config);
  return {
    source: `the store in ${config.dataDir}`,
    page: async (after, limit) => (await store.listAuditEvents({ afterSeq: after, limit })).map(fromStore),
    last: async () => (await store.listAuditEvents({ limit: 1 })).map(fromStore)[0] ?? null,
    close: () => store.close(),
  };
}

/** The API when the server answers, else the local store. */
export async function openAuditReader(config: Config, api: () => Promise<ApiClient>): Promise<AuditReader> {
  const client = await api();
  const reader = apiReader(client);
  try {
    await reader.last();
    return reader;
  } catch (error) {
    if (!(error instanceof MandateError) || error.code !== 'server_unreachable') throw error;
    try {
      return await storeReader(config);
    } catch (storeError) {
      throw new MandateError('audit_unavailable', `${error.message}; and no local store to read instead (${(storeError as Error).message})`);
    }
  }
}

/**
 * Every decision recorded since `since` (ms), oldest first. Events are appended in
 * time order, so a binary search over sequence numbers finds where to start; a page
 * of margin before it covers events that were stamped a moment before their
 * neighbours were appended.
 */
export async function* decisionsSince(reader: AuditReader, since: number): AsyncGenerator<RecordedDecision> {
  const last = await reader.last();
  if (!last || last.time < since) return;
  let lo = 0; // every event up to lo is older than `since`
  let hi = last.seq; // an event at or before hi is at least as new
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const [found] = await reader.page(mid - 1, 1);
    if (found && found.time < since) lo = found.seq;
    else hi = mid;
  }
  let after = Math.max(0, lo - PAGE);
  for (;;) {
    const page = await reader.page(after, PAGE);
    for (const event of page) if (event.decision && event.time >= since) yield event.decision;
    if (page.length < PAGE) return;
    after = (page[page.length - 1] as Page).seq;
  }
}
