// The PostgreSQL role provider as the gateway uses it: a mandate's role is issued when
// the first session that needs it opens and reused by every session after (issuing
// again would give it a new password and lock out the processes already started),
// revoked when the mandate ends — after the gateway has closed its sessions — and
// the reaper runs at start and every minute for what a crash or another process left
// behind. Revocations and reaping run one at a time; every receipt goes to the
// provider's onReceipt (the audit log).
import type { AuditEvent } from '../audit/event.ts';
import { MandateError } from '../errors.ts';
import type { Server, UpstreamLease } from '../store/types.ts';
import type { PostgresRoleProvider, RevocationReceipt, RoleLease } from './postgres-roles.ts';
import { libpqEnvironment } from './postgres-url.ts';

/** The variables the libpq environment of a lease may set. */
export const LIBPQ_VARIABLES: readonly string[] = ['PGHOST', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGPASSWORD', 'PGSSLMODE'];

/** What a server's lease is, to the policy set and the audit log: a dynamic credential, by a stable id. */
export const POSTGRES_CREDENTIAL_NAME = 'postgres-role';
export const postgresCredentialId = (server: string): string => `postgres:${server}`;

/** The variables a binding sets: the one named, or the libpq ones. */
export const leaseVariables = (binding: UpstreamLease): readonly string[] => (binding.env === null ? LIBPQ_VARIABLES : [binding.env]);

/** A lease as a process environment: the URL in the variable named, or as libpq variables. */
export function leaseEnvironment(binding: UpstreamLease, lease: RoleLease): Record<string, string> {
  return binding.env === null ? libpqEnvironment(lease.url) : { [binding.env]: lease.url };
}

/** The values of a lease that are secret (what the upstream's guard looks for): its password and its URL, never the role, host or database. */
export function leaseSecrets(lease: RoleLease): string[] {
  const { PGPASSWORD } = libpqEnvironment(lease.url);
  return [lease.url, ...(PGPASSWORD ? [PGPASSWORD] : [])];
}

/** The lease binding of a server, when it takes one. */
export const leaseOf = (server: Server): UpstreamLease | undefined => (server.upstream.transport === 'stdio' ? server.upstream.lease : undefined);

/**
 * A revocation receipt as an audit event: a `revocation` by Mandate itself (caller
 * `system`) of the mandate's dynamic credential, its receipt whole (it holds no
 * password), a failure when the role could not be verified gone.
 */
export function receiptEvent(receipt: RevocationReceipt): AuditEvent {
  return {
    kind: 'revocation', time: Date.now(), server: '', person: null, agents: [], mandate: receipt.mandateId, purpose: null,
    method: 'credential/revoke', tool: POSTGRES_CREDENTIAL_NAME, argumentsDigest: null, decision: null,
    reason: receipt.verified ? null : 'credential_revocation_unverified', policies: [], policySetHash: null,
    outcome: receipt.verified ? 'ok' : 'error', latencyMs: null, caller: 'system', subject: `database role ${receipt.role}`,
    receipt: { ...receipt, checks: [...receipt.checks] },
  };
}

const REAP_EVERY_MS = 60_000;

export class PostgresLeases {
  readonly #provider: PostgresRoleProvider;
  readonly #isActive: (mandateId: string) => Promise<boolean>;
  readonly #log: (line: string) => void;
  /** Leases issued by this process, or being issued, by mandate. */
  readonly #leases = new Map<string, Promise<RoleLease>>();
  /** Revocations and reaping, one at a time. */
  #serial: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  /** `isActive`: whether the store has the mandate active (the reaper's question, and asked before issuing). */
  constructor(provider: PostgresRoleProvider, isActive: (mandateId: string) => Promise<boolean>, log: (line: string) => void = (line) => console.error(line)) {
    this.#provider = provider;
    this.#isActive = isActive;
    this.#log = log;
  }

  /**
   * The mandate's lease: issued the first time, the same one after. Throws
   * `credential_unavailable` when the mandate is no longer active or the role cannot
   * be made (then nothing of it remains).
   */
  lease(mandate: { id: string; expiresAt: number }): Promise<RoleLease> {
    if (this.#closed) return Promise.reject(unavailable('the PostgreSQL role provider is closed'));
    const known = this.#leases.get(mandate.id);
    if (known) return known;
    const issuing = this.#issue(mandate);
    this.#leases.set(mandate.id, issuing);
    issuing.catch(() => {
      if (this.#leases.get(mandate.id) === issuing) this.#leases.delete(mandate.id);
    });
    return issuing;
  }

  async #issue(mandate: { id: string; expiresAt: number }): Promise<RoleLease> {
    // Ending a mandate is stored before it is signalled: a mandate seen active here has
    // either not ended, or its ending will find this lease and revoke it once issued.
    if (!(await this.#isActive(mandate.id))) throw unavailable(`mandate ${mandate.id} is no longer active: no database role is issued for it`);
    return this.#provider.issue(mandate);
  }

  /**
   * Revokes the roles of mandates that ended, once their sessions are closed: those this
   * process issued, each by itself; when others ended too, the reaper looks for roles
   * an earlier run issued. Throws the first failure after trying all (the receipts are
   * recorded either way).
   */
  end(ids: readonly string[]): Promise<void> {
    if (this.#closed) return Promise.resolve(); // the reaper of the next start revokes them
    const issued = ids.filter((id) => this.#leases.has(id));
    const pending = issued.map((id) => {
      const lease = this.#leases.get(id) as Promise<RoleLease>;
      this.#leases.delete(id);
      return { id, lease };
    });
    return this.#exclusive(async () => {
      let failure: unknown = null;
      for (const { id, lease } of pending) {
        // A role whose issuing failed left nothing to revoke.
        if (!(await lease.then(() => true, () => false))) continue;
        await this.#provider.revoke(id).catch((error: unknown) => { failure ??= error; });
      }
      if (issued.length < ids.length) await this.#reap().catch((error: unknown) => { failure ??= error; });
      if (failure !== null) throw failure;
    });
  }

  /** Runs the reaper now and then every minute until closed; a failure is logged (its receipts are recorded). */
  startReaper(everyMs = REAP_EVERY_MS): void {
    const run = (): void => {
      this.#exclusive(() => this.#reap()).catch((error: unknown) => this.#log(`mandate: reaping database roles: ${(error as Error).message}`));
    };
    run();
    this.#timer = setInterval(run, everyMs);
    this.#timer.unref();
  }

  /** Revokes every role whose mandate is not active (or past VALID UNTIL, or half revoked); answers how many. */
  reap(): Promise<number> {
    return this.#exclusive(() => this.#reap());
  }

  async #reap(): Promise<number> {
    const receipts = await this.#provider.reap(this.#isActive);
    for (const receipt of receipts) this.#leases.delete(receipt.mandateId);
    return receipts.length;
  }

  /** Stops the reaper, lets the revocation under way finish, and closes the provider's connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#serial.catch(() => undefined);
    await this.#provider.close();
  }

  #exclusive<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#serial.catch(() => undefined).then(run);
    this.#serial = next;
    return next;
  }
}

const unavailable = (message: string): MandateError => new MandateError('credential_unavailable', message, { status: 503 });
