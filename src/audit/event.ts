// One audit record. Every governed request leaves at least one: the decision, and,
// when it was allowed, its result; every AuthZEN evaluation another enforcement point
// asks for leaves one too. Arguments are recorded by digest and as a redacted, bounded
// copy (redact.ts), so no secret that an agent passes to a tool lands in the log.
import { createHash } from 'node:crypto';
import type { RevocationReceipt } from '../credentials/postgres-roles.ts';
import type { AuthorizationRequest } from '../policy/engine.ts';
import type { SecretKind } from './redact.ts';

/**
 * authentication: a refused request at the gateway; token: a task token issued or
 * refused at /oauth/token (or a sub-delegation); revocation: mandates ended, by whom;
 * approval: one step of an approval (`approval/request`, `approval/notify`,
 * `approval/approve`, `approval/deny`, `approval/use`, `approval/expire` as its method).
 */
export type AuditKind = 'authentication' | 'token' | 'decision' | 'result' | 'evaluation' | 'revocation' | 'approval';

export interface AuditEvent {
  kind: AuditKind;
  /** Milliseconds since the epoch. */
  time: number;
  server: string;
  person: string | null;
  /** The actor chain, current actor first (SPIFFE IDs). */
  agents: string[];
  mandate: string | null;
  purpose: string | null;
  method: string | null;
  tool: string | null;
  argumentsDigest: string | null;
  decision: 'allow' | 'deny' | null;
  /** Stable reason code of a denial or failure (e.g. tool_outside_scope, token_expired). */
  reason: string | null;
  policies: string[];
  policySetHash: string | null;
  outcome: 'ok' | 'error' | 'denied' | null;
  latencyMs: number | null;
  /**
   * Of a decision by Cedar: the request exactly as the decision point was asked it
   * (principal, action, resource, context, entities — the arguments' views among them
   * when a policy of the set reads arguments): what `mandate policy replay` decides again.
   */
  request?: AuthorizationRequest;
  /**
   * Of a decision on a request with arguments: a copy of them with secrets redacted,
   * strings cut and the whole bounded (redactedCopy in redact.ts). What was actually
   * sent is identified by `argumentsDigest`, over the arguments as they were.
   */
  arguments?: unknown;
  /**
   * The kinds of secret found (never their values): of a decision, redacted from the
   * arguments and the recorded request; of a result, in the upstream's reply.
   */
  secrets?: SecretKind[];
  /**
   * The credentials Mandate injected into the upstream this request went to (or, of a
   * `credential/use` decision, the one decided), by id (`crd_…`): the lease reference,
   * never a secret.
   */
  credentials?: string[];
  /** Of a decision a shadow policy could apply to: the decision with shadow policies enforced. Recorded, never enforced. */
  shadow?: { decision: 'allow' | 'deny'; policies: string[]; errors: string[] };
  /** Of an `evaluation` (an AuthZEN query by another enforcement point) or a `revocation`: who asked, e.g. `admin`, `person alice`. */
  caller?: string;
  /** Of a `revocation`: the mandates it ended (at most 1,000 per event), and how many it ended in all when more. */
  mandates?: string[];
  total?: number;
  /** Of a `credential/use` decision on a dynamic credential (a PostgreSQL role): the lease issued (`lse_…`), never its secret. */
  lease?: string;
  /**
   * Of a `revocation` of a dynamic credential (method `credential/revoke`, `tool` the
   * credential, `mandate` whose it was): what the provider did and saw afterwards —
   * the database role's sessions terminated, whether it is gone — never a password.
   */
  receipt?: RevocationReceipt;
  /** Of an `evaluation`: the principal and resource asked about, as Cedar uids (`Agent::"agt_…"`); of a `revocation`, what was revoked (`agent agt_…`). */
  subject?: string;
  resource?: string;
  /** The approval (`apr_…`) this event is a step of, or (of a gateway decision) the approval the call needed or used. */
  approval?: string;
  /** Of an `approval`: the digest of the exact action it is bound to (actionDigest in src/approvals/types.ts). */
  actionDigest?: string;
  /** Of an `approval`: what the person deciding said, or what became of a notification. */
  note?: string;
}

export interface StoredAuditEvent extends AuditEvent {
  /** Its place in the log, from 1: leaf index seq − 1 of the Merkle tree. */
  seq: number;
  /** Its RFC 9162 leaf hash (hex): SHA-256(0x00 || ledger entry), see entry.ts. */
  hash: string;
  /** Parts left out of an event too long for one ledger entry (entry.ts). */
  omitted?: string[];
}

/** JSON with object keys in sorted order, so equal values always hash equally. */
export function canonicalJson(value: unknown): string {
  // Twice per governed call, over events of a few kilobytes: the values are copied with
  // their keys in order and serialised natively, which is several times faster than
  // building the text by hand — unless a key looks like an array index, which V8 would
  // put first whatever the insertion order.
  try {
    return JSON.stringify(sortedCopy(value)) ?? 'null';
  } catch (error) {
    if (error !== INDEX_KEY) throw error;
    return canonicalJsonByHand(value);
  }
}

const INDEX_KEY = Symbol('an object key that looks like an array index');
const INDEX_LIKE = /^(0|[1-9]\d*)$/;

function sortedCopy(value: unknown): unknown {
  if (value === null) return null;
  switch (typeof value) {
    case 'object': break;
    case 'function': case 'symbol': return null; // as canonicalJsonByHand writes them
    default: return value;
  }
  if (Array.isArray(value)) return value.map((item) => (item === undefined ? null : sortedCopy(item)));
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record).sort(byCodeUnit)) {
    const member = record[key];
    if (member === undefined) continue;
    if (INDEX_LIKE.test(key)) throw INDEX_KEY;
    copy[key] = sortedCopy(member);
  }
  return copy;
}

/** The same text, built piece by piece (objects whose keys look like array indexes). */
export function canonicalJsonByHand(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJsonByHand(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort(byCodeUnit);
  let out = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJsonByHand(member)}`;
  }
  return `${out}}`;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export const argumentsDigest = (args: unknown): string => `sha256:${createHash('sha256').update(canonicalJson(args ?? {})).digest('hex')}`;

