// Starts a real Mandate (SQLite store in a fresh temp data dir, real HTTP server on a
// free loopback port) for tests, plus shortcuts to reach the state a test needs.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../src/app.ts';
import { listen, type RunningServer } from '../src/api/server.ts';
import { clientAssertion, dpopProof, generateAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { ADMIN_TOKEN_FILE, init } from '../src/init.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { freePort } from '../src/lib/free-port.ts';

export { freePort };

export interface Harness {
  app: App;
  url: string;
  config: Config;
  dataDir: string;
  adminToken: string;
  server: RunningServer;
  close: () => Promise<void>;
  /** fetch against the server with JSON in and out. */
  api: (method: string, path: string, options?: { token?: string | null; body?: unknown }) => Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  /** POSTs a form to an OAuth endpoint. */
  form: (path: string, params: Record<string, string>, headers?: Record<string, string>) => Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
}

/** `dataDir`: start on an existing data directory (kept when the harness closes), e.g. to restart with other settings. */
export async function startMandate(overrides: Partial<Config> = {}, options: { dataDir?: string } = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'mandate-test-'));
  const port = await freePort();
  const config = loadConfig({}, { dataDir, port, host: '127.0.0.1', ...overrides });
  await init(config);
  const app = await createApp(config);
  const server = await listen(app);
  const adminToken = (await readFile(join(dataDir, ADMIN_TOKEN_FILE), 'utf8')).trim();
  const parse = async (response: Response) => {
    const text = await response.text();
    let body: Record<string, unknown>;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { text };
    }
    return { status: response.status, body, headers: response.headers };
  };
  return {
    app, url: server.url, config, dataDir, adminToken, server,
    close: async () => {
      await server.close();
      await app.close();
      if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
    },
    api: async (method, path, options = {}) => {
      const token = options.token === undefined ? adminToken : options.token;
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      return parse(await fetch(`${server.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) }));
    },
    form: async (path, params, headers = {}) => parse(await fetch(`${server.url}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(params).toString(),
    })),
  };
}

export interface Scenario {
  personToken: string;
  agentId: string;
  spiffeId: string;
  key: AgentKey;
  mandateId: string;
  mandateToken: string;
}

/**
 * A person (`alice`), a server (`fs`, tools read_file and write_file), an enrolled
 * agent and a mandate for it, all through the public HTTP API.
 */
export async function grantScenario(h: Harness, options: { agentName?: string; allow?: string[]; ttl?: number; maxCalls?: number; person?: string } = {}): Promise<Scenario> {
  const person = options.person ?? 'alice';
  if ((await h.api('GET', `/api/v1/users/${person}`)).status === 404) await h.api('POST', '/api/v1/users', { body: { id: person } });
  const personToken = String((await h.api('POST', `/api/v1/users/${person}/login`)).body.token);
  if ((await h.api('GET', '/api/v1/servers/fs')).status === 404) {
    await h.api('POST', '/api/v1/servers', { body: { name: 'fs', command: 'true', tools: [{ name: 'read_file', sensitivity: 'internal', effect: 'read' }, { name: 'write_file' }] } });
  }
  const added = await h.api('POST', '/api/v1/agents', { body: { name: options.agentName ?? `bot-${Math.random().toString(36).slice(2, 8)}`, owner: person, purpose: 'tests' } });
  const agent = added.body.agent as Record<string, unknown>;
  const key = generateAgentKey();
  const enrolled = await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: key.publicJwk } });
  if (enrolled.status !== 200) throw new Error(`enrollment failed: ${JSON.stringify(enrolled.body)}`);
  key.clientId = String(agent.spiffe_id);
  const granted = await h.api('POST', '/api/v1/mandates', {
    token: personToken,
    body: { agent: agent.id, purpose: 'test task', allow: options.allow ?? ['fs/read_file'], ttl: options.ttl, max_calls: options.maxCalls },
  });
  if (granted.status !== 201) throw new Error(`grant failed: ${JSON.stringify(granted.body)}`);
  return {
    personToken, agentId: String(agent.id), spiffeId: String(agent.spiffe_id), key,
    mandateId: String((granted.body.mandate as Record<string, unknown>).id), mandateToken: String(granted.body.mandate_token),
  };
}

/** The standard token-exchange form for a scenario (override any parameter). */
export function exchangeParams(h: Harness, s: Scenario, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const params: Record<string, string | undefined> = {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
    subject_token: s.mandateToken,
    subject_token_type: TOKEN_TYPE_JWT,
    resource: `${h.url}/mcp/fs`,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: clientAssertion(s.key, `${h.url}/oauth/token`, nowSeconds()),
    ...overrides,
  };
  return Object.fromEntries(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Performs the exchange; the DPoP proof is made with the agent's key unless one is given. */
export async function exchange(h: Harness, s: Scenario, overrides: Record<string, string | undefined> = {}, proof?: string | null) {
  const dpop = proof === undefined ? dpopProof(s.key, 'POST', `${h.url}/oauth/token`) : proof;
  return h.form('/oauth/token', exchangeParams(h, s, overrides), dpop === null ? {} : { dpop });
}

/** Asserts an OAuth error answer: its `error`, Mandate's `mandate_error`, the status (401 for invalid_client), no token. */
export function expectOAuthError(answer: { status: number; body: Record<string, unknown> }, error: string, code: string): void {
  const detail = JSON.stringify(answer.body);
  assert.notEqual(answer.status, 500, detail);
  assert.equal(answer.body.error, error, detail);
  assert.equal(answer.body.mandate_error, code, detail);
  assert.equal(answer.status, error === 'invalid_client' ? 401 : 400, detail);
  assert.equal(typeof answer.body.error_description, 'string');
  assert.equal(answer.body.access_token, undefined);
}

/**
 * Sub-delegation at the token endpoint: the agent holding `taskToken` (with `fromKey`,
 * the key it is bound to) trades it, with the sub-agent's own assertion as actor_token,
 * for a child mandate token for the sub-agent; `extra`: scope, requested_ttl, max_calls, purpose.
 */
export function subDelegate(h: Harness, fromKey: AgentKey, taskToken: string, toKey: AgentKey, extra: Record<string, string> = {}) {
  const tokenUrl = `${h.url}/oauth/token`;
  return h.form('/oauth/token', {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: taskToken, subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
    actor_token: clientAssertion(toKey, tokenUrl), actor_token_type: TOKEN_TYPE_JWT,
    client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(fromKey, tokenUrl), ...extra,
  }, { dpop: dpopProof(fromKey, 'POST', tokenUrl) });
}
