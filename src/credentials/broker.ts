// The credential broker: credentials sealed at rest, bound to one server each, and
// handed to that server's upstream — never to an agent, an API answer, a log line or
// an audit event. Adding a credential seals its secret (seal.ts) under the current
// key-encryption key (kek.ts); using it asks the policy set (`credential/use`) first,
// and unseals only what is permitted. Any failure — a denial, a missing or wrong
// KEK, a sealed secret that does not authenticate — refuses the use: the upstream is
// never reached with less (or other) than the credentials it is bound to. A stdio
// server may also take a dynamic credential, a PostgreSQL role of the mandate
// (postgres-leases.ts), decided the same way and issued (or reused) as the session opens.
import { MandateError, badRequest, notFound } from '../errors.ts';
import { newId } from '../lib/ids.ts';
import { Signal } from '../lib/signal.ts';
import type { AuthorizationRequest, PolicyEngine } from '../policy/engine.ts';
import type { CredentialInjection, CredentialRewrap, SealedCredential, Server, Store } from '../store/types.ts';
import { InjectedSecrets } from './injected-secrets.ts';
import { checkInjectionFits, checkSecret, injectedValue, parseInjection, targetOf } from './injection.ts';
import type { Kek, KekRing } from './kek.ts';
import { NO_INJECTION, type UpstreamInjection } from './lease.ts';
import { POSTGRES_CREDENTIAL_NAME, leaseEnvironment, leaseOf, leaseSecrets, leaseVariables, postgresCredentialId, type PostgresLeases } from './postgres-leases.ts';
import { rewrap, seal, unseal, type SealBinding } from './seal.ts';
import { credentialUseRequest, staticCredential, type CredentialCaller, type CredentialRef } from './use-request.ts';

export const CREDENTIAL_ID_PREFIX = 'crd';
export const CREDENTIAL_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export interface CredentialInput {
  name: string;
  server: string;
  inject: { header?: string | undefined; format?: string | undefined; env?: string | undefined };
  secret: string;
}

/** One `credential/use` decision, as the audit log records it (the credential by id and name only). */
export interface CredentialUse {
  credential: Pick<SealedCredential, 'id' | 'name' | 'server'>;
  decision: 'allow' | 'deny';
  /** Why it was refused: credential_use_denied, decision_failed, the unsealing failure (kek_missing, kek_mismatch, credential_tampered), or credential_unavailable (a lease not issued). */
  reason: string | null;
  /** Of a dynamic credential: the lease issued (`lse_…`), never its secret. */
  lease?: string;
  policies: string[];
  policySetHash: string;
  request: AuthorizationRequest;
  shadow?: { decision: 'allow' | 'deny'; policies: string[]; errors: string[] };
}

/** The credentials of one upstream connection (or one proxied request), or why they cannot be given. */
export type Lease =
  | { ok: true; injection: UpstreamInjection; uses: CredentialUse[] }
  | { ok: false; code: string; message: string; uses: CredentialUse[] };

export interface RotationResult {
  kekId: string;
  rewrapped: number;
  unchanged: number;
}

/** A credential whose secret is no longer what upstreams opened with may have been given: removed, or its secret replaced. */
export interface CredentialChange {
  id: string;
  change: 'removed' | 'replaced';
}

const bindingOf = (c: Pick<SealedCredential, 'id' | 'server' | 'injection'>): SealBinding => ({ credentialId: c.id, server: c.server, target: targetOf(c.injection) });

export class CredentialBroker {
  readonly #store: Store;
  readonly #keks: KekRing;
  readonly #policy: () => PolicyEngine;
  /** Emitted after a credential was removed or its secret replaced, once stored: upstreams holding the old one are ended. */
  readonly changed = new Signal<CredentialChange>('a credential changed');

  /** The PostgreSQL role provider, for the servers whose upstream takes a lease; null: none configured. */
  readonly #postgres: PostgresLeases | null;

  constructor(store: Store, keks: KekRing, policy: () => PolicyEngine, dynamic: { postgres?: PostgresLeases | null } = {}) {
    this.#store = store;
    this.#keks = keks;
    this.#policy = policy;
    this.#postgres = dynamic.postgres ?? null;
  }

  /** The id of the key new secrets are sealed under; null when none is loaded. */
  get kekId(): string | null {
    return this.#keks.current?.id ?? null;
  }

  async add(input: CredentialInput, now: number): Promise<SealedCredential> {
    if (!CREDENTIAL_NAME.test(input.name)) throw badRequest('invalid_credential_name', `credential name "${input.name}" must be lower-case letters, digits, ".", "_" or "-" (at most 63)`);
    const server = await this.#server(input.server);
    const injection = parseInjection(input.inject);
    checkInjectionFits(server.name, server.upstream, injection);
    const lease = leaseOf(server);
    if (lease && injection.kind === 'env' && leaseVariables(lease).includes(injection.variable)) {
      throw new MandateError('credential_target_taken', `server ${server.name} receives its PostgreSQL lease in ${injection.variable}: a credential cannot be injected there`, { status: 409 });
    }
    checkSecret(input.secret, injection);
    const id = newId(CREDENTIAL_ID_PREFIX);
    const sealed = this.#seal(input.secret, { id, server: server.name, injection });
    const credential: SealedCredential = { id, name: input.name, server: server.name, injection, ...sealed, createdAt: now, rotatedAt: null, rewrappedAt: null };
    await this.#store.createCredential(credential);
    return credential;
  }

  list(server?: string): Promise<SealedCredential[]> {
    return this.#store.listCredentials(server === undefined ? {} : { server });
  }

  async get(id: string): Promise<SealedCredential> {
    const credential = await this.#store.getCredential(id);
    if (!credential) throw notFound('credential_not_found', `no credential with id ${id}`);
    return credential;
  }

  async remove(id: string): Promise<void> {
    if (!(await this.#store.removeCredential(id))) throw notFound('credential_not_found', `no credential with id ${id}`);
    await this.changed.emit({ id, change: 'removed' });
  }

  /** Seals a new secret for the credential (under a fresh data key); sessions opened from now on get it, those open with the old one are ended. */
  async replaceSecret(id: string, secret: string, now: number): Promise<SealedCredential> {
    const credential = await this.get(id);
    checkSecret(secret, credential.injection);
    const replaced = await this.#store.replaceCredentialSecret(id, this.#seal(secret, credential), now);
    if (!replaced) throw notFound('credential_not_found', `no credential with id ${id}`);
    await this.changed.emit({ id, change: 'replaced' });
    return replaced;
  }

  /**
   * Wraps every data key under `target` (default: the current KEK), unwrapping each
   * with the key it is under (current or previous). All of them, in one transaction,
   * or none: a credential under a key that is not loaded refuses the whole rotation.
   * The sealed secrets are not touched.
   */
  rotate(now: number, target: Kek = this.#keks.wrapping()): Promise<RotationResult> {
    return rewrapAll(this.#store, this.#keks, target, now);
  }

  /**
   * The credentials of `server` for `caller`, for an upstream connection or request
   * whose scope entry is `call`: each decided (`credential/use`), then unsealed; then,
   * for a server that takes one, the mandate's lease, decided and issued. The first
   * refusal ends it (the rest are not decided); `uses` says what was decided.
   */
  async lease(server: Server, caller: CredentialCaller, call: string, now: number): Promise<Lease> {
    const credentials = await this.#store.listCredentials({ server: server.name });
    const dynamic = leaseOf(server);
    if (credentials.length === 0 && !dynamic) return { ok: true, injection: NO_INJECTION, uses: [] };
    const engine = this.#policy();
    const uses: CredentialUse[] = [];
    const headers: Record<string, string> = {};
    const env: Record<string, string> = {};
    const secrets: string[] = [];
    /** The values the guard looks for: what was injected, less the lease's parts that are no secret (its role, host, database). */
    const guarded: string[] = [];
    const decide = (credential: CredentialRef): { use: CredentialUse; refusal: Lease | null } => {
      const request = credentialUseRequest(caller, server, credential, call, now);
      const answer = engine.decide(request);
      const use: CredentialUse = {
        credential: { id: credential.id, name: credential.name, server: credential.server }, decision: answer.decision, reason: null,
        policies: answer.policies, policySetHash: answer.policySetHash, request, ...(answer.shadow ? { shadow: answer.shadow } : {}),
      };
      uses.push(use);
      if (answer.decision === 'allow') return { use, refusal: null };
      const [code, why] = answer.errors.length > 0 ? ['decision_failed', `the policy could not be evaluated (${answer.errors.join('; ')})`]
        : ['credential_use_denied', answer.policies.length > 0 ? `forbidden by ${answer.policies.join(', ')}` : 'no policy permits it'];
      use.reason = code;
      return { use, refusal: { ok: false, code, message: `denied: credential ${credential.name} of server ${server.name} may not be used for mandate ${caller.mandateId}: ${why}`, uses } };
    };
    for (const credential of credentials) {
      const { use, refusal } = decide(staticCredential(credential));
      if (refusal) return refusal;
      let secret: string;
      try {
        secret = this.#unseal(credential);
        checkInjectionFits(server.name, server.upstream, credential.injection);
      } catch (error) {
        const failure = error instanceof MandateError ? error : new MandateError('credential_tampered', `credential ${credential.id} could not be unsealed`);
        Object.assign(use, { decision: 'deny', reason: failure.code });
        return { ok: false, code: failure.code, message: `credential ${credential.name} of server ${server.name} cannot be used: ${failure.message}`, uses };
      }
      const value = injectedValue(credential.injection, secret);
      if (credential.injection.kind === 'header') headers[credential.injection.header] = value;
      else env[credential.injection.variable] = value;
      secrets.push(secret);
      guarded.push(value, secret);
    }
    const ids = credentials.map((c) => c.id);
    if (dynamic) {
      const ref: CredentialRef = { id: postgresCredentialId(server.name), name: POSTGRES_CREDENTIAL_NAME, server: server.name, kind: 'dynamic', inject: 'env' };
      const { use, refusal } = decide(ref);
      if (refusal) return refusal;
      let issued;
      try {
        if (!this.#postgres) throw new MandateError('credential_unavailable', 'no PostgreSQL role provider is configured (MANDATE_PG_ADMIN_URL)');
        issued = await this.#postgres.lease({ id: caller.mandateId, expiresAt: caller.expiresAt });
      } catch (error) {
        const failure = error instanceof MandateError ? error : new MandateError('credential_unavailable', 'the PostgreSQL role provider failed');
        Object.assign(use, { decision: 'deny', reason: failure.code });
        return { ok: false, code: failure.code, message: `the PostgreSQL role of mandate ${caller.mandateId} for server ${server.name} cannot be issued: ${failure.message}`, uses };
      }
      use.lease = issued.leaseId;
      Object.assign(env, leaseEnvironment(dynamic, issued));
      const leased = leaseSecrets(issued);
      secrets.push(...leased);
      guarded.push(...leased);
      ids.push(ref.id);
    }
    return { ok: true, injection: { headers, env, secrets, credentials: ids, guard: new InjectedSecrets(guarded) }, uses };
  }

  async #server(name: string): Promise<Server> {
    const server = await this.#store.getServer(name);
    if (!server) throw badRequest('server_not_found', `no server named ${name}`);
    return server;
  }

  #seal(secret: string, credential: { id: string; server: string; injection: CredentialInjection }): Pick<SealedCredential, 'sealed' | 'wrappedKey' | 'kekId'> {
    const kek = this.#keks.wrapping();
    const plaintext = Buffer.from(secret, 'utf8');
    try {
      return seal(plaintext, bindingOf(credential), kek);
    } finally {
      plaintext.fill(0);
    }
  }

  #unseal(credential: SealedCredential): string {
    const kek = this.#keks.unwrapping(credential.kekId, `credential ${credential.id} (${credential.name})`);
    const plaintext = unseal(credential, bindingOf(credential), kek);
    try {
      return plaintext.toString('utf8');
    } finally {
      plaintext.fill(0);
    }
  }
}

/**
 * Wraps every credential's data key under `target`, unwrapping each with the key of
 * `keks` it is under; in one transaction, or nothing changes (rotate, above).
 */
export async function rewrapAll(store: Store, keks: KekRing, target: Kek, now: number): Promise<RotationResult> {
  const all = await store.listCredentials();
  const rewraps: CredentialRewrap[] = [];
  for (const c of all) {
    if (c.kekId === target.id) continue;
    const from = keks.unwrapping(c.kekId, `credential ${c.id} (${c.name})`);
    rewraps.push({ id: c.id, fromKekId: c.kekId, wrappedKey: rewrap(c.wrappedKey, c.id, from, target), kekId: target.id });
  }
  if (rewraps.length > 0) await store.rewrapCredentialKeys(rewraps, now);
  return { kekId: target.id, rewrapped: rewraps.length, unchanged: all.length - rewraps.length };
}
