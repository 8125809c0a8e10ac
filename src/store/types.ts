// The persistence contract. Every method is one atomic unit of work: an operation
// that must check and change state together (consume an enrollment token, end a
// mandate only while it is active, rotate keys) is one method, so each backend can
// make it one transaction and no caller can leave a partial change behind.
// Times are whole seconds since the epoch.

import type { AuditEvent, StoredAuditEvent } from '../audit/event.ts';
import type { HashPosition } from '../audit/merkle/hash-store.ts';
import type { JWK } from '../identity/jwk.ts';
import type { TaskFlow } from '../delegation/task-flow.ts';
import type { Approval, ApprovalFilter } from '../approvals/types.ts';

export type PersonStatus = 'active' | 'deactivated';
export interface Person {
  id: string;
  email: string | null;
  name: string | null;
  status: PersonStatus;
  /** null for the embedded directory; the issuer URL for people known through an external OIDC issuer. */
  issuer: string | null;
  subject: string | null;
  createdAt: number;
}

export type AgentStatus = 'active' | 'suspended' | 'retired';
export type Environment = 'dev' | 'staging' | 'prod';
export const ENVIRONMENTS: readonly Environment[] = ['dev', 'staging', 'prod'];
export interface Agent {
  id: string;
  name: string;
  spiffeId: string;
  owner: string;
  /** A person who answers for the agent beside its owner (an approver kind: `sponsor`); absent or null: none. */
  sponsor?: string | null;
  purpose: string;
  environment: Environment;
  status: AgentStatus;
  reviewDue: number | null;
  /** Public keys the agent authenticates with (empty until enrolled). */
  keys: JWK[];
  createdAt: number;
  enrolledAt: number | null;
}

/** A named set of people, from the embedded group directory (an approver kind: `group:<name>`). */
export interface Group {
  name: string;
  /** Person ids, sorted. */
  members: string[];
  createdAt: number;
}

export interface EnrollmentGrant {
  tokenHash: string;
  agentId: string;
  expiresAt: number;
}

export type EnrollmentResult =
  | { ok: true; agent: Agent }
  | { ok: false; reason: 'unknown' | 'used' | 'expired' | 'agent_not_active' };

export type Sensitivity = 'public' | 'internal' | 'confidential' | 'secret';
export type Effect = 'read' | 'write' | 'destructive';
export type Egress = 'internal' | 'external';
export interface ToolLabels {
  sensitivity: Sensitivity;
  effect: Effect;
  egress: Egress;
}
export interface Tool extends ToolLabels {
  server: string;
  name: string;
  /** true when a person set the labels; false for the conservative defaults. */
  labelled: boolean;
  firstSeen: number;
}

/**
 * How the gateway reaches a server: an MCP server over streamable HTTP or stdio, or
 * (`http-api`) a plain HTTP API that agents call through `/proxy/<server>/…`. A stdio
 * server may take a dynamic credential (`lease`) in the environment of its process.
 */
export type Upstream = { transport: 'http'; url: string } | { transport: 'stdio'; command: string; args: string[]; lease?: UpstreamLease } | { transport: 'http-api'; url: string };
/**
 * A per-mandate lease from a dynamic-credential provider (a PostgreSQL role), given to
 * each process the server's sessions start: `env` names the variable that receives
 * the lease URL; null: the libpq variables (PGHOST, PGPORT, PGDATABASE, PGUSER,
 * PGPASSWORD, PGSSLMODE), so the password is never on a command line.
 */
export interface UpstreamLease {
  provider: 'postgres';
  env: string | null;
}
export interface Server {
  name: string;
  upstream: Upstream;
  /** The environment it serves; only agents of that environment may use it. Null: any. */
  environment: Environment | null;
  createdAt: number;
}

/** Where a credential is injected: an HTTP header (its lower-case name, and the value's format around `{secret}`) or a stdio process's environment variable. */
export type CredentialInjection = { kind: 'header'; header: string; format: string } | { kind: 'env'; variable: string };
/**
 * A credential held for a server, sealed (src/credentials/seal.ts): the secret under
 * its own data key, the data key wrapped with a key-encryption key the store never holds.
 */
export interface SealedCredential {
  id: string;
  name: string;
  server: string;
  injection: CredentialInjection;
  /** The secret under the data key (version, nonce, ciphertext, tag): never the secret itself. */
  sealed: Uint8Array;
  /** The data key under the key-encryption key `kekId`. */
  wrappedKey: Uint8Array;
  kekId: string;
  createdAt: number;
  /** When its secret was last replaced; null: never. */
  rotatedAt: number | null;
  /** When its data key was last wrapped under another key-encryption key; null: never. */
  rewrappedAt: number | null;
}
/** A data key wrapped anew: applied only while the credential is still under `fromKekId`. */
export interface CredentialRewrap {
  id: string;
  fromKekId: string;
  wrappedKey: Uint8Array;
  kekId: string;
}

export type MandateState = 'active' | 'completed' | 'revoked' | 'expired';
export interface Mandate {
  id: string;
  /** The person whose authority it is: the root grantor, also of every sub-delegation below. */
  grantor: string;
  agentId: string;
  /** The mandate it was sub-delegated from (null: a person's own grant). */
  parentId: string | null;
  /** 0 for a person's own grant, one more per sub-delegation. */
  depth: number;
  /** The SPIFFE IDs of the agents that delegated down to this one, nearest first (empty at depth 0). */
  chain: string[];
  purpose: string;
  /** Allowed actions, each `<server>/<tool>` or `<server>/*`. */
  scope: string[];
  notBefore: number;
  expiresAt: number;
  maxCalls: number | null;
  callsUsed: number;
  state: MandateState;
  reason: string | null;
  createdAt: number;
  endedAt: number | null;
  /** Who ended it (`admin`, `person alice`, `agent spiffe://…`, `system`), when it was ended by someone. */
  endedBy: string | null;
}

/** Which active mandates to end: one (by id), those an agent holds, a person granted, on a server, or all. */
export type MandateSelector = { id: string } | { agentId: string } | { grantor: string } | { server: string } | { all: true };

export type SigningKeyState = 'next' | 'current' | 'retiring';
export interface SigningKey {
  kid: string;
  alg: 'ES256';
  publicJwk: JWK;
  privateJwk: JWK;
  state: SigningKeyState;
  createdAt: number;
  /** For a retiring key: the moment every token it signed has expired. */
  retireAfter: number | null;
}

export interface IdentityProvider {
  name: string;
  issuer: string;
  audience: string;
  jwksUri: string;
  /** The claim whose value becomes the person id (default `sub`). */
  subjectClaim: string;
  createdAt: number;
}

export interface MandateFilter {
  agentId?: string;
  grantor?: string;
  state?: MandateState;
}

/** The outcome of counting one call against a mandate's budget. */
/** The outcome of counting one call against a mandate's budget (and those of the mandates above it). */
export type CallCount = 'ok' | 'not_active' | 'exhausted' | 'parent_not_active' | 'parent_exhausted';


export interface AuditTreeHead {
  size: number;
  rootHash: Uint8Array;
}

/** A signed checkpoint of the audit ledger (c2sp.org/tlog-checkpoint as a signed note). */
export interface StoredCheckpoint {
  size: number;
  /** Milliseconds since the epoch, when it was signed. */
  time: number;
  note: string;
}

/** What the audit log appends: an event, or a call to count and the event that records it. */
export type AuditEntry = AuditEvent | CountedAuditEntry;
export interface CountedAuditEntry {
  countCall: { mandateId: string; now: number };
  event: (count: CallCount) => AuditEvent;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;
  ping(): Promise<void>;

  createPerson(person: Person): Promise<void>;
  getPerson(id: string): Promise<Person | null>;
  listPeople(): Promise<Person[]>;
  setPersonStatus(id: string, status: PersonStatus): Promise<Person | null>;
  /** Returns the person for this issuer and subject, creating them (active) on first sight. */
  ensureExternalPerson(person: Person): Promise<Person>;

  createAgent(agent: Agent, enrollment: EnrollmentGrant): Promise<void>;
  getAgent(id: string): Promise<Agent | null>;
  getAgentBySpiffeId(spiffeId: string): Promise<Agent | null>;
  listAgents(filter?: { owner?: string }): Promise<Agent[]>;
  setAgentStatus(id: string, status: AgentStatus): Promise<Agent | null>;
  /** Consumes the enrollment token (single use) and registers the key, atomically. */
  enrollAgent(tokenHash: string, key: JWK, now: number): Promise<EnrollmentResult>;

  /** Adds a group with its first members; refuses a taken name (`group_exists`) or an unknown person (`person_not_found`). */
  createGroup(group: Group): Promise<void>;
  getGroup(name: string): Promise<Group | null>;
  listGroups(): Promise<Group[]>;
  /** The names of the groups the person is a member of, sorted. */
  groupsOf(person: string): Promise<string[]>;
  /** Adds a member; false when they were one already. Refuses an unknown group (`group_not_found`) or person (`person_not_found`). */
  addGroupMember(name: string, person: string, now: number): Promise<boolean>;
  /** Removes a member; false when they were none. */
  removeGroupMember(name: string, person: string): Promise<boolean>;

  createServer(server: Server, tools: Tool[]): Promise<void>;
  getServer(name: string): Promise<Server | null>;
  listServers(): Promise<Server[]>;
  listTools(server: string): Promise<Tool[]>;
  /**
   * Records tools an upstream offers that were not known yet, with the conservative
   * default labels. On a server's first discovery they count as present since the
   * server was registered; afterwards they are stamped `now`. `listingStartedAt` is
   * when the listing they come from began (its first page): later pages of the first
   * listing are part of the first discovery. Returns all its tools.
   */
  discoverTools(server: string, names: string[], now: number, listingStartedAt?: number): Promise<Tool[]>;

  createMandate(mandate: Mandate): Promise<void>;
  getMandate(id: string): Promise<Mandate | null>;
  listMandates(filter?: MandateFilter): Promise<Mandate[]>;
  /**
   * Ends the mandate if it is still active, and every active mandate delegated below it,
   * in one transaction; returns it as ended, or null if it was not active.
   */
  endMandate(id: string, state: Exclude<MandateState, 'active'>, reason: string | null, now: number, by?: string | null): Promise<Mandate | null>;
  /** Ends every active mandate held by the agent or granted by the person, and what was delegated below them; returns their ids. */
  endMandatesOf(filter: { agentId: string } | { grantor: string }, state: 'revoked', reason: string | null, now: number, by?: string | null): Promise<string[]>;
  /**
   * Ends the selected active mandates and every active mandate delegated below them, in
   * one transaction. Returns the ids ended: the selected first, then their descendants.
   */
  endMandates(selector: MandateSelector, state: Exclude<MandateState, 'active'>, reason: string | null, now: number, by?: string | null): Promise<string[]>;
  /**
   * Counts one call against the mandate, atomically with the checks that it is active,
   * not expired and under its budget; says which check failed otherwise.
   */
  consumeCall(id: string, now: number): Promise<CallCount>;
  /** Marks active mandates past their expiry as expired; returns their ids. */
  expireMandates(now: number): Promise<string[]>;

  listSigningKeys(): Promise<SigningKey[]>;
  addSigningKey(key: SigningKey): Promise<void>;
  /** next → current, current → retiring (until retireAfter), `newNext` becomes next; drops retiring keys past their time. */
  rotateSigningKeys(newNext: SigningKey, retireAfter: number, now: number): Promise<void>;

  addIdentityProvider(provider: IdentityProvider): Promise<void>;
  listIdentityProviders(): Promise<IdentityProvider[]>;
  removeIdentityProvider(name: string): Promise<boolean>;

  addAdminCredential(hash: string, now: number): Promise<void>;
  isAdminCredential(hash: string): Promise<boolean>;

  /**
   * Appends entries to the hash chain in one transaction; answers their events with
   * sequence numbers and hashes. A counted entry first counts one call against its
   * mandate (as `consumeCall`) and builds its event from the outcome, so a call is
   * counted exactly when its decision is recorded.
   */
  appendAuditEvents(entries: AuditEntry[]): Promise<StoredAuditEvent[]>;
  /** Events after `afterSeq` (oldest first), or the last `limit` events when `afterSeq` is not given. */
  listAuditEvents(options: { afterSeq?: number; limit: number }): Promise<StoredAuditEvent[]>;
  getAuditEvent(seq: number): Promise<StoredAuditEvent | null>;

  // The audit ledger: the Merkle tree over the events, maintained by appendAuditEvents
  // in the same transaction as the events it covers (see src/audit/entry.ts).
  /** The committed tree: its size (the last event's seq) and root hash. */
  auditTreeHead(): Promise<AuditTreeHead>;
  /** The stored tree hashes at those positions (level 0: the events' leaf hashes); fails with `hash_missing`. */
  readAuditHashes(positions: readonly HashPosition[]): Promise<Uint8Array[]>;
  /** The raw ledger rows after `afterSeq`, as stored (for verification, which trusts none of them). */
  listAuditRecords(options: { afterSeq: number; limit: number }): Promise<{ seq: number; entry: string; hash: string }[]>;
  /** The size the persisted tree state claims (null before the ledger has one); unlike auditTreeHead, never refuses. */
  auditTreeStateSize(): Promise<number | null>;
  /** The ledger entries (the exact bytes each leaf hashes) of leaf indexes [start, end). */
  readAuditEntries(start: number, end: number): Promise<string[]>;
  addAuditCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  latestAuditCheckpoint(): Promise<StoredCheckpoint | null>;
  /** Checkpoints of size > `afterSize`, smallest first. */
  listAuditCheckpoints(options: { afterSize?: number; limit: number }): Promise<StoredCheckpoint[]>;

  /** Adds a credential; refuses a taken name (`credential_exists`) or a server's header or variable already injected (`credential_target_taken`). */
  createCredential(credential: SealedCredential): Promise<void>;
  getCredential(id: string): Promise<SealedCredential | null>;
  /** Credentials ordered by server and name; those of one server with `server`. */
  listCredentials(filter?: { server?: string }): Promise<SealedCredential[]>;
  removeCredential(id: string): Promise<boolean>;
  /** Replaces the sealed secret and its wrapped data key; returns the credential as it now is, or null when there is none. */
  replaceCredentialSecret(id: string, sealed: Pick<SealedCredential, 'sealed' | 'wrappedKey' | 'kekId'>, now: number): Promise<SealedCredential | null>;
  /**
   * Applies every rewrap in one transaction, or none: when a credential is gone or no
   * longer under its `fromKekId`, nothing changes and `credential_changed` is thrown.
   */
  rewrapCredentialKeys(rewraps: readonly CredentialRewrap[], now: number): Promise<void>;

  /** Revokes one issued token by its `jti` until it would have expired anyway. */
  revokeTokenId(jti: string, expiresAt: number): Promise<void>;
  isTokenIdRevoked(jti: string, now: number): Promise<boolean>;

  // Task flows (src/delegation/task-flow.ts): what has flowed in a task. A task is a
  // mandate and everything delegated below it: each mandate of one delegation tree
  // reads and adds to the flow kept under its root.
  /** The flow of the mandate's task; null when nothing was recorded yet, or there is no such mandate. */
  getTaskFlow(mandateId: string): Promise<TaskFlow | null>;
  /**
   * Joins `flow` into the stored flow of the mandate's task, in one transaction: a flow
   * only grows, so merges made at once lose nothing. Returns the flow as it now is;
   * refuses a mandate that does not exist (`mandate_not_found`).
   */
  mergeTaskFlow(mandateId: string, flow: TaskFlow, now: number): Promise<TaskFlow>;
  /**
   * Forgets the flows of tasks whose root is among `mandateIds` (ended: nothing can be
   * called under them any more); ids of mandates below a root have no flow of their
   * own and change nothing. Returns how many flows were forgotten.
   */
  forgetTaskFlows(mandateIds: readonly string[]): Promise<number>;

  // Approvals (src/approvals): a person's yes or no on one exact action.
  /**
   * Adds a pending approval. There is at most one pending approval per digest: while
   * another is pending (even past its expiry, until expireApprovals marks it), this
   * refuses with `approval_exists`.
   */
  createApproval(approval: Approval): Promise<void>;
  getApproval(id: string): Promise<Approval | null>;
  /** Newest first, at most `limit` (default 100). */
  listApprovals(filter?: ApprovalFilter): Promise<Approval[]>;
  /** The pending approval of that digest not yet past its expiry, if any. */
  findPendingApproval(digest: string, now: number): Promise<Approval | null>;
  /** The latest denied approval of that digest decided after `decidedAfter`, if any. */
  findDeniedApproval(digest: string, decidedAfter: number): Promise<Approval | null>;
  /** The approved approval of that digest consumeApproval would use now, if any, without using it. */
  findUsableApproval(digest: string, now: number): Promise<Approval | null>;
  /**
   * Approves or denies, only while it is pending and not past its expiry, in one
   * transaction; a pending approval found past its expiry is marked expired.
   */
  decideApproval(id: string, decision: 'approved' | 'denied', by: string, note: string | null, now: number, use: ApprovalUse): Promise<ApprovalDecision>;
  /**
   * Takes one use of an approved approval of that digest, atomically with the checks:
   * before `usableUntil` (or `repeatUntil`) and fewer than `maxUses` uses. The use that
   * spends the last one marks it used. Returns it as it now is, or null: nothing to use.
   */
  consumeApproval(digest: string, now: number): Promise<Approval | null>;
  /**
   * Ends what can no longer be decided or used: pending approvals past their expiry
   * become expired; approved ones past their window become used (when used at least
   * once) or expired. Returns them as they now are.
   */
  expireApprovals(now: number): Promise<Approval[]>;
}

/** What an approval allows once approved (a denial stores none of it). */
export interface ApprovalUse {
  usableUntil: number;
  repeatUntil: number | null;
  maxUses: number;
}

export type ApprovalDecision =
  | { ok: true; approval: Approval }
  | { ok: false; reason: 'not_found' | 'not_pending' | 'expired'; approval: Approval | null };
