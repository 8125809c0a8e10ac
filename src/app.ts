// The composition root: opens the store and builds every service from the config.
// `mandate serve` and the tests both start Mandate through here.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Catalog } from './catalog/servers.ts';
import { endpoints, type Config } from './config.ts';
import { Mandates } from './delegation/mandates.ts';
import { MandateError } from './errors.ts';
import { Agents } from './identity/agents.ts';
import { Introspection } from './delegation/introspection.ts';
import { KeyRing } from './identity/keyring.ts';
import { ExternalIssuers } from './identity/oidc-issuers.ts';
import { People } from './identity/people.ts';
import { ReplayCache } from './identity/replay-cache.ts';
import { TokenEndpoint } from './delegation/token-exchange.ts';
import { TokenService } from './identity/tokens.ts';
import { nowSeconds } from './lib/clock.ts';
import { AuditLog } from './audit/log.ts';
import { Gateway } from './gateway/gateway.ts';
import { PolicyEngine } from './policy/engine.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/types.ts';

export const SCHEMA_FILE = new URL('../policies/schema.cedarschema', import.meta.url);

export interface App {
  config: Config;
  store: Store;
  keys: KeyRing;
  tokens: TokenService;
  people: People;
  agents: Agents;
  catalog: Catalog;
  mandates: Mandates;
  external: ExternalIssuers;
  tokenEndpoint: TokenEndpoint;
  introspection: Introspection;
  gateway: Gateway;
  audit: AuditLog;
  policy: () => PolicyEngine;
  /** Re-reads the policy directory; the last good set stays active when the new one is invalid. */
  reloadPolicies: () => Promise<PolicyEngine>;
  startedAt: number;
  close: () => Promise<void>;
}

export async function loadPolicyEngine(dir: string): Promise<PolicyEngine> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => f.endsWith('.cedar')).sort();
  } catch {
    throw new MandateError('policies_missing', `no policy directory at ${dir}: run \`mandate init\``, { status: 503 });
  }
  const sources = await Promise.all(files.map(async (f) => ({ origin: f, text: await readFile(join(dir, f), 'utf8') })));
  return PolicyEngine.load(sources, await readFile(SCHEMA_FILE, 'utf8'));
}

export async function createApp(config: Config): Promise<App> {
  const store = await openStore(config);
  try {
    const keys = new KeyRing(store);
    await keys.load();
    const tokens = new TokenService(keys, { issuer: config.publicUrl, clockTolerance: config.clockTolerance });
    const external = new ExternalIssuers(store, config.clockTolerance);
    await external.load();
    let engine = await loadPolicyEngine(join(config.dataDir, 'policies'));
    const policy = (): PolicyEngine => engine;
    const startedAt = nowSeconds();
    const url = endpoints(config.publicUrl);
    const replay = new ReplayCache();
    const audit = new AuditLog(store);
    const gateway = new Gateway(store, tokens, replay, audit, policy, { publicUrl: config.publicUrl, dpopMaxAge: config.dpopMaxAge, notBefore: startedAt, sessionIdleSeconds: config.sessionIdle });
    return {
      config,
      store,
      keys,
      tokens,
      external,
      people: new People(store, tokens, external, config.personTokenTtl),
      agents: new Agents(store, { trustDomain: config.trustDomain, enrollmentTokenTtl: config.enrollmentTokenTtl }),
      catalog: new Catalog(store),
      mandates: new Mandates(store, tokens, policy, { defaultTtl: config.mandateDefaultTtl, maxTtl: config.mandateMaxTtl }),
      tokenEndpoint: new TokenEndpoint(store, tokens, replay, {
        issuer: url.issuer,
        tokenEndpoint: url.token,
        resourcePrefix: url.mcpResource(''),
        taskTokenTtl: config.taskTokenTtl,
        clientAssertionMaxAge: config.clientAssertionMaxAge,
        dpopMaxAge: config.dpopMaxAge,
        clockTolerance: config.clockTolerance,
        notBefore: startedAt,
      }),
      introspection: new Introspection(store, tokens),
      gateway,
      audit,
      policy,
      reloadPolicies: async () => {
        engine = await loadPolicyEngine(join(config.dataDir, 'policies'));
        return engine;
      },
      startedAt,
      close: async () => {
        await gateway.close();
        await audit.drain();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}
