// The composition root: opens the store and builds every service from the config.
// `mandate serve` and the tests both start Mandate through here.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Catalog } from './catalog/servers.ts';
import { endpoints, type Config } from './config.ts';
import { Mandates, effectiveState } from './delegation/mandates.ts';
import { MandateError } from './errors.ts';
import { Agents } from './identity/agents.ts';
import { Introspection } from './delegation/introspection.ts';
import { KeyRing } from './identity/keyring.ts';
import { ExternalIssuers } from './identity/oidc-issuers.ts';
import { People } from './identity/people.ts';
import { Groups } from './identity/groups.ts';
import { Approvals } from './approvals/approvals.ts';
import { ReplayCache } from './identity/replay-cache.ts';
import { TokenEndpoint } from './delegation/token-exchange.ts';
import { TokenService } from './identity/tokens.ts';
import { nowSeconds } from './lib/clock.ts';
import { loadAuditKey } from './audit/audit-key.ts';
import { Checkpointer } from './audit/checkpointer.ts';
import { AuditLog } from './audit/log.ts';
import { CallSpans } from './telemetry/call-spans.ts';
import { OtlpTraceExporter } from './telemetry/otlp.ts';
import { VERSION } from './version.ts';
import { CredentialBroker } from './credentials/broker.ts';
import { loadKekRing } from './credentials/kek.ts';
import { PostgresLeases, receiptEvent } from './credentials/postgres-leases.ts';
import { PostgresRoleProvider } from './credentials/postgres-roles.ts';
import { Gateway } from './gateway/gateway.ts';
import { HttpProxy } from './gateway/http-api/proxy.ts';
import { agentStopped, credentialChanged, mandateEnded } from './gateway/session-endings.ts';
import { PolicyEngine } from './policy/engine.ts';
import { PolicyStore, readPolicyDirectory } from './policy/policy-store.ts';
import { PolicySet, type SchemaSource } from './policy/policy-set.ts';
import { PolicyInvalidError } from './policy/problems.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/types.ts';

export const SCHEMA_FILE = new URL('../policies/schema.cedarschema', import.meta.url);

/** How often approvals past their expiry or window are ended (and recorded). */
const APPROVAL_SWEEP_MS = 5_000;

export interface App {
  config: Config;
  store: Store;
  keys: KeyRing;
  tokens: TokenService;
  people: People;
  agents: Agents;
  /** The embedded group directory (approvers named `group:<name>`). */
  groups: Groups;
  /** Approvals of calls that need a person's yes (docs/approvals.md): what the gateway asks and people decide. */
  approvals: Approvals;
  catalog: Catalog;
  mandates: Mandates;
  external: ExternalIssuers;
  tokenEndpoint: TokenEndpoint;
  introspection: Introspection;
  gateway: Gateway;
  /** /proxy/<server>/…: HTTP APIs behind the gateway. */
  proxy: HttpProxy;
  /** Credentials sealed at rest and injected into upstreams (docs/credentials.md). */
  credentials: CredentialBroker;
  /** A PostgreSQL role per mandate for the servers that take a lease (docs/dynamic-credentials.md); null: MANDATE_PG_ADMIN_URL not set. */
  postgres: PostgresLeases | null;
  audit: AuditLog;
  /** Signs the audit ledger's checkpoints; knows the log's origin and verifier key. */
  checkpoints: Checkpointer;
  policy: () => PolicyEngine;
  /** The policy directory: the active set, validated changes, hot reload. */
  policies: PolicyStore;
  /** Re-reads the policy directory; the last good set stays active when the new one is invalid (and this throws, naming its problems). */
  reloadPolicies: () => Promise<PolicyEngine>;
  startedAt: number;
  close: () => Promise<void>;
}

/** The schema policies are validated against: the repository's `policies/schema.cedarschema`, or another file. */
export async function readSchema(file: string | URL = SCHEMA_FILE): Promise<SchemaSource> {
  try {
    return { origin: typeof file === 'string' ? file : 'schema.cedarschema', text: await readFile(file, 'utf8') };
  } catch (error) {
    throw new MandateError('schema_missing', `cannot read the Cedar schema ${String(file)}: ${(error as Error).message}`);
  }
}

export async function loadPolicyEngine(dir: string): Promise<PolicyEngine> {
  return new PolicyEngine(PolicySet.load(await readPolicyDirectory(dir), await readSchema()));
}

export async function createApp(config: Config): Promise<App> {
  const store = await openStore(config);
  try {
    // A configured key-encryption key that cannot be read refuses the start (docs/credentials.md).
    const keks = await loadKekRing(config);
    const keys = new KeyRing(store);
    await keys.load();
    const tokens = new TokenService(keys, { issuer: config.publicUrl, clockTolerance: config.clockTolerance });
    const external = new ExternalIssuers(store, config.clockTolerance);
    await external.load();
    const policies = await PolicyStore.open(join(config.dataDir, 'policies'), { schema: await readSchema() });
    policies.watch();
    const policy = (): PolicyEngine => policies.engine;
    const startedAt = nowSeconds();
    const url = endpoints(config.publicUrl);
    const replay = new ReplayCache();
    const audit = new AuditLog(store, { maxDelayMs: config.auditCommitDelayMs });
    const approvals = new Approvals(store, audit, {
      publicUrl: config.publicUrl, window: config.approvalWindow, ttl: config.approvalTtl, maxRepeat: config.approvalMaxRepeat, maxUses: config.approvalMaxUses, denialQuiet: config.approvalDenialQuiet,
      webhook: config.approvalWebhookUrl && config.approvalWebhookSecret ? { url: config.approvalWebhookUrl, secret: config.approvalWebhookSecret, backoffMs: config.approvalWebhookBackoffMs } : null,
    });
    approvals.startSweeper(APPROVAL_SWEEP_MS);
    const checkpoints = new Checkpointer(store, await loadAuditKey(config.dataDir, { origin: config.auditOrigin, trustDomain: config.trustDomain }), {
      intervalMs: config.auditCheckpointInterval * 1000, entries: config.auditCheckpointEntries,
    });
    audit.onCommit((events) => checkpoints.committed(events.length));
    // Traces of governed calls (OTLP/HTTP), when OTEL_EXPORTER_OTLP_* says where.
    const traces = OtlpTraceExporter.fromEnv(process.env, { version: VERSION });
    const spans = traces ? new CallSpans(traces) : null;
    if (spans) audit.onCommit((events) => spans.committed(events));
    await checkpoints.start();
    // A PostgreSQL role per mandate for the servers that take a lease (docs/dynamic-credentials.md); each receipt is recorded.
    const postgres = config.postgres ? new PostgresLeases(new PostgresRoleProvider({
      adminUrl: config.postgres.adminUrl, grants: config.postgres.grants,
      ...(config.postgres.database !== null ? { database: config.postgres.database } : {}), ...(config.postgres.rolePrefix !== null ? { prefix: config.postgres.rolePrefix } : {}),
      onReceipt: async (receipt) => {
        await audit.append(receiptEvent(receipt));
      },
    }), async (id) => {
      const mandate = await store.getMandate(id);
      return mandate !== null && effectiveState(mandate, nowSeconds()).state === 'active';
    }) : null;
    const credentials = new CredentialBroker(store, keks, policy, { postgres });
    const gateway = new Gateway(store, tokens, replay, audit, policy, { publicUrl: config.publicUrl, dpopMaxAge: config.dpopMaxAge, notBefore: startedAt, sessionIdleSeconds: config.sessionIdle, blockSecretReplies: config.blockSecretReplies, credentials,
      approvals, approvalWaitSeconds: config.approvalWait, approvalProgressSeconds: config.approvalProgressInterval,
    });
    const mandates = new Mandates(store, tokens, policy, { defaultTtl: config.mandateDefaultTtl, maxTtl: config.mandateMaxTtl }, audit);
    const proxy = new HttpProxy(store, tokens, replay, audit, policy, credentials, { publicUrl: config.publicUrl, dpopMaxAge: config.dpopMaxAge, notBefore: startedAt, approvals });
    const agents = new Agents(store, { trustDomain: config.trustDomain, enrollmentTokenTtl: config.enrollmentTokenTtl });
    // When authority ends in the store, what holds it outside ends too: the gateway's
    // sessions bound to it, and with them their upstream processes; then, once nothing
    // runs with them, the mandates' database roles.
    mandates.ended.on(async ({ ids, state }) => {
      await gateway.endSessions({ mandates: ids }, mandateEnded(state));
      await postgres?.end(ids);
      // Nothing is called under them any more: what flowed in their tasks is no longer needed.
      await store.forgetTaskFlows(ids);
    });
    agents.statusChanged.on(async (agent) => {
      if (agent.status !== 'active') await gateway.endSessions({ agent: agent.spiffeId }, agentStopped(agent));
    });
    credentials.changed.on(async (change) => {
      await gateway.endSessions({ credential: change.id }, credentialChanged(change));
    });
    postgres?.startReaper();
    return {
      config,
      store,
      keys,
      tokens,
      external,
      people: new People(store, tokens, external, config.personTokenTtl),
      agents,
      catalog: new Catalog(store),
      groups: new Groups(store),
      approvals,
      mandates,
      tokenEndpoint: new TokenEndpoint(store, tokens, replay, {
        issuer: url.issuer,
        tokenEndpoint: url.token,
        resourcePrefix: url.mcpResource(''),
        proxyResourcePrefix: url.proxyResource(''),
        taskTokenTtl: config.taskTokenTtl,
        clientAssertionMaxAge: config.clientAssertionMaxAge,
        dpopMaxAge: config.dpopMaxAge,
        clockTolerance: config.clockTolerance,
        notBefore: startedAt,
        maxDelegationDepth: config.maxDelegationDepth,
      }, policy),
      introspection: new Introspection(store, tokens, (id, caller, now) => mandates.tokenRevoked(id, caller, now)),
      gateway,
      proxy,
      credentials,
      postgres,
      audit,
      checkpoints,
      policy,
      policies,
      reloadPolicies: async () => {
        const status = await policies.reload('api');
        if (!status.ok) throw new PolicyInvalidError(status.problems);
        return policies.engine;
      },
      startedAt,
      close: async () => {
        await policies.close();
        await approvals.close();
        await gateway.close();
        await proxy.close();
        await postgres?.close();
        keks.destroy();
        await audit.drain();
        spans?.flush();
        await traces?.shutdown();
        await checkpoints.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
