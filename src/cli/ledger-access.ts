// How `mandate audit proof` and `explain` read the ledger: the store of the local data
// directory when there is one (offline, read only, safe beside a running server),
// else a running server's API. Either way the answer is checked here, against the
// log's verifier key, before anything is called verified.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_VERIFIER_KEY_FILE } from '../audit/audit-key.ts';
import type { StoredAuditEvent } from '../audit/event.ts';
import { proveConsistency, proveInclusion } from '../audit/ledger-reader.ts';
import type { Config } from '../config.ts';
import { MandateError } from '../errors.ts';
import { SQLITE_FILE, openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import type { ApiClient } from './api-client.ts';

export interface InclusionData {
  leafIndex: number;
  treeSize: number;
  leafHash: Uint8Array;
  proof: Uint8Array[];
  /** The signed checkpoint of treeSize, when there is one. */
  checkpoint: string | null;
}

export interface ConsistencyData {
  oldSize: number;
  newSize: number;
  proof: Uint8Array[];
  checkpoints: { old: string | null; new: string | null };
}

export interface LedgerAccess {
  readonly source: string;
  event(seq: number): Promise<StoredAuditEvent | null>;
  /** Events with seq > after, oldest first. */
  events(after: number, limit: number): Promise<StoredAuditEvent[]>;
  /** The proof of event `seq` in the tree of `size`, or of the latest checkpoint that covers it. */
  inclusion(seq: number, size?: number): Promise<InclusionData>;
  consistency(from: number, to?: number): Promise<ConsistencyData>;
  /** The log's verifier key: the data directory's, else the one the server publishes. */
  verifierKey(): Promise<string>;
  close(): Promise<void>;
}

const bytes = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, 'base64'));

async function checkpointOf(store: Store, size: number): Promise<string | null> {
  const [found] = await store.listAuditCheckpoints({ afterSize: size - 1, limit: 1 });
  return found && found.size === size ? found.note : null;
}

async function localAccess(config: Config): Promise<LedgerAccess> {
  const store = await openStore(config);
  return {
    source: `the store in ${config.dataDir}`,
    event: (seq) => store.getAuditEvent(seq),
    events: (after, limit) => store.listAuditEvents({ afterSeq: after, limit }),
    inclusion: async (seq, size) => {
      let treeSize = size;
      if (treeSize === undefined) {
        const [covering] = await store.listAuditCheckpoints({ afterSize: seq - 1, limit: 1 });
        const latest = await store.latestAuditCheckpoint();
        treeSize = latest && latest.size >= seq ? latest.size : covering?.size;
        if (treeSize === undefined) {
          throw new MandateError('not_checkpointed_yet', `event ${seq} is not in a signed checkpoint yet; the server signs one within MANDATE_AUDIT_CHECKPOINT_INTERVAL (or ask it: leave the data directory out, use MANDATE_URL)`);
        }
      }
      const proof = await proveInclusion(store, seq, treeSize);
      return { leafIndex: proof.leafIndex, treeSize, leafHash: proof.leafHash, proof: proof.proof, checkpoint: await checkpointOf(store, treeSize) };
    },
    consistency: async (from, to) => {
      const newSize = to ?? (await store.latestAuditCheckpoint())?.size ?? 0;
      const proof = await proveConsistency(store, from, newSize);
      return { oldSize: from, newSize, proof: proof.proof, checkpoints: { old: await checkpointOf(store, from), new: await checkpointOf(store, newSize) } };
    },
    verifierKey: async () => (await readFile(join(config.dataDir, AUDIT_VERIFIER_KEY_FILE), 'utf8')).trim(),
    close: () => store.close(),
  };
}

interface EventView {
  seq: number; hash: string; kind: StoredAuditEvent['kind']; time: string; server: string; person: string | null; agents: string[]; mandate: string | null;
  purpose: string | null; method: string | null; tool: string | null; arguments_digest: string | null; decision: 'allow' | 'deny' | null; reason: string | null;
  policies: string[]; policy_set_hash: string | null; outcome: StoredAuditEvent['outcome']; latency_ms: number | null; shadow: StoredAuditEvent['shadow'] | null;
  caller: string | null; subject: string | null; resource: string | null; omitted: string[] | null; arguments?: unknown;
}

const fromView = (e: EventView): StoredAuditEvent => ({
  seq: e.seq, hash: e.hash, kind: e.kind, time: Date.parse(e.time), server: e.server, person: e.person, agents: e.agents, mandate: e.mandate, purpose: e.purpose,
  method: e.method, tool: e.tool, argumentsDigest: e.arguments_digest, decision: e.decision, reason: e.reason, policies: e.policies, policySetHash: e.policy_set_hash,
  outcome: e.outcome, latencyMs: e.latency_ms, ...(e.shadow ? { shadow: e.shadow } : {}), ...(e.caller ? { caller: e.caller } : {}), ...(e.subject ? { subject: e.subject } : {}),
  ...(e.resource ? { resource: e.resource } : {}), ...(e.omitted ? { omitted: e.omitted } : {}), ...(e.arguments !== undefined && e.arguments !== null ? { arguments: e.arguments } : {}),
});

function apiAccess(api: ApiClient, config: Config): LedgerAccess {
  return {
    source: api.baseUrl,
    event: async (seq) => {
      try {
        return fromView(await api.request<EventView>('GET', `/api/v1/audit/events/${seq}`));
      } catch (error) {
        if (error instanceof MandateError && error.status === 404) return null;
        throw error;
      }
    },
    events: async (after, limit) => (await api.request<{ events: EventView[] }>('GET', `/api/v1/audit/events?after=${after}&limit=${limit}`)).events.map(fromView),
    inclusion: async (seq, size) => {
      const p = await api.request<{ leaf_index: number; tree_size: number; leaf_hash: string; hashes: string[]; checkpoint: string | null }>(
        'GET', `/api/v1/audit/proofs/inclusion?seq=${seq}${size === undefined ? '' : `&size=${size}`}`);
      return { leafIndex: p.leaf_index, treeSize: p.tree_size, leafHash: bytes(p.leaf_hash), proof: p.hashes.map(bytes), checkpoint: p.checkpoint };
    },
    consistency: async (from, to) => {
      const p = await api.request<{ old_size: number; new_size: number; hashes: string[]; checkpoints: { old: string | null; new: string | null } }>(
        'GET', `/api/v1/audit/proofs/consistency?from=${from}${to === undefined ? '' : `&to=${to}`}`);
      return { oldSize: p.old_size, newSize: p.new_size, proof: p.hashes.map(bytes), checkpoints: p.checkpoints };
    },
    verifierKey: async () => {
      const local = await readFile(join(config.dataDir, AUDIT_VERIFIER_KEY_FILE), 'utf8').then((k) => k.trim(), () => null);
      if (local) return local;
      const response = await fetch(`${api.baseUrl}/audit/key`, { signal: AbortSignal.timeout(30_000) });
      if (!response.ok) throw new MandateError('key_unavailable', `the server did not publish its audit key (${response.status})`);
      return (await response.text()).trim();
    },
    close: async () => undefined,
  };
}

export async function openLedgerAccess(config: Config, api: () => Promise<ApiClient>): Promise<LedgerAccess> {
  if (!config.databaseUrl && existsSync(join(config.dataDir, SQLITE_FILE))) return localAccess(config);
  return apiAccess(await api(), config);
}
