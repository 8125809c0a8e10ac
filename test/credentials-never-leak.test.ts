// No seeded secret leaves Mandate except where it is injected upstream. Mandate runs
// as `mandate serve` (a child process whose stdout and stderr are kept); credentials
// with distinctive secrets are given to an MCP server over streamable HTTP, an MCP
// server over stdio and an HTTP API, and every surface is exercised — the API's
// answers and refusals, the OpenAPI document, the CLI, agents' tool calls and
// proxied requests (including upstreams that try to hand the secret back), the audit
// events through the API, the audit export, the raw rows and files of the database,
// the process's output. The secrets, in their base64 and hex forms too, must be
// found nowhere in all of it — and must have reached the upstreams.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, it } from 'node:test';
import { dpopProof, generateAgentKey } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { clientAssertion } from '../src/client/agent-key.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { freePort } from '../src/lib/free-port.ts';
import { startRecordingApi, startRecordingMcp, type RecordingServer } from './fixtures/recording-http.ts';
import { runMandate } from './fixtures/cli.ts';

const SECRETS = {
  mcpHeader: 'LEAKCHECK-mcp-header-4b7e19d2a6c3f805',
  apiHeader: 'LEAKCHECK-api-header-93c1e7f4b2a6d058',
  stdioEnv: 'LEAKCHECK-stdio-env-0f6a2d8e4c1b7395',
  replaced: 'LEAKCHECK-replaced-secret-5d3b9f1c7e2a4068',
};
const FORMS = Object.values(SECRETS).flatMap((s) => [s, Buffer.from(s).toString('base64'), Buffer.from(s).toString('base64url'), Buffer.from(s).toString('hex')]);
const BIN = new URL('../bin/mandate.js', import.meta.url).pathname;
const ENV_SERVER = new URL('./fixtures/env-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

let dataDir: string;
let url: string;
let adminToken: string;
let child: ChildProcess;
let output = '';
let mcp: RecordingServer;
let api: RecordingServer;
/** Everything Mandate said, to anyone: searched for the secrets at the end. */
const seen: Array<{ where: string; text: string }> = [];
const keep = (where: string, value: unknown): void => void seen.push({ where, text: typeof value === 'string' ? value : JSON.stringify(value) });

const env = (): NodeJS.ProcessEnv => ({ ...process.env, MANDATE_DATA_DIR: dataDir, MANDATE_URL: url, MANDATE_TOKEN: adminToken });

async function call(method: string, path: string, body?: unknown, token: string | null = adminToken) {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  keep(`${method} ${path} → ${response.status}`, `${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${text}`);
  let parsed: Record<string, unknown>;
  try {
    parsed = text ? JSON.parse(text) as Record<string, unknown> : {};
  } catch {
    parsed = { text };
  }
  return { status: response.status, body: parsed };
}

async function cli(args: string[], input?: string): Promise<string> {
  const { stdout, stderr } = await runMandate(args, env(), { input });
  keep(`mandate ${args.join(' ')}`, `${stdout}${stderr}`);
  return stdout;
}

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'mandate-leak-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [BIN, 'serve', '--init'], { env: { ...process.env, MANDATE_DATA_DIR: dataDir, MANDATE_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { output += d; });
  for (let i = 0; i < 200 && !output.includes('listening on'); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(output, /listening on/);
  adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  mcp = await startRecordingMcp();
  api = await startRecordingApi();
});
after(async () => {
  child.kill('SIGKILL');
  await mcp.close();
  await api.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** An enrolled agent of alice with a mandate, and a task token for `resource`. */
async function agentFor(allow: string[], resource: string) {
  const name = `leak-${Math.random().toString(36).slice(2, 8)}`;
  const added = await call('POST', '/api/v1/agents', { name, owner: 'alice', purpose: 'leak check' });
  const key = generateAgentKey();
  await call('POST', '/api/v1/agents/enroll', { enrollment_token: added.body.enrollment_token, jwk: key.publicJwk }, null);
  key.clientId = String((added.body.agent as { spiffe_id: string }).spiffe_id);
  const person = String((await call('POST', '/api/v1/users/alice/login')).body.token);
  const granted = await call('POST', '/api/v1/mandates', { agent: (added.body.agent as { id: string }).id, purpose: 'leak check', allow }, person);
  const form = new URLSearchParams({
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: String(granted.body.mandate_token), subject_token_type: TOKEN_TYPE_JWT, resource,
    client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(key, `${url}/oauth/token`, nowSeconds()),
  });
  const answer = await fetch(`${url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpopProof(key, 'POST', `${url}/oauth/token`) }, body: form });
  const token = String(((await answer.json()) as { access_token: string }).access_token);
  return { key, token };
}

it('no seeded secret appears in any answer, error, event, export, database row or log line', async () => {
  await call('POST', '/api/v1/users', { id: 'alice' });
  await call('POST', '/api/v1/servers', { name: 'remote', url: mcp.url, tools: [{ name: 'ping', sensitivity: 'public', effect: 'read', egress: 'internal' }] });
  await call('POST', '/api/v1/servers', { name: 'envy', command: process.execPath, args: [...FLAGS, ENV_SERVER, 'stdio'] });
  await call('POST', '/api/v1/servers', { name: 'api', url: api.url, kind: 'http-api' });

  // The control plane: creations, refusals that see the secret in their body, a replaced secret.
  const remote = await call('POST', '/api/v1/credentials', { name: 'remote-token', server: 'remote', inject: { header: 'Authorization', format: 'Bearer {secret}' }, secret: SECRETS.mcpHeader });
  assert.equal(remote.status, 201);
  assert.equal((await call('POST', '/api/v1/credentials', { name: 'envy-token', server: 'envy', inject: { env: 'UPSTREAM_TOKEN' }, secret: SECRETS.replaced })).status, 201);
  const envy = String(((await call('GET', '/api/v1/credentials?server=envy')).body.credentials as Array<{ id: string }>)[0]?.id);
  assert.equal((await call('PUT', `/api/v1/credentials/${envy}/secret`, { secret: SECRETS.stdioEnv })).status, 200);
  await cli(['credential', 'add', 'api-key', '--server', 'api', '--header', 'X-Api-Key', '--secret-stdin'], `${SECRETS.apiHeader}\n`);
  for (const body of [
    { name: 'remote-token', server: 'remote', inject: { header: 'X-Other' }, secret: SECRETS.mcpHeader },
    { name: 'bad', server: 'remote', inject: { header: 'Host' }, secret: SECRETS.mcpHeader },
    { name: 'bad', server: 'remote', inject: { header: 'X-A', format: SECRETS.mcpHeader }, secret: SECRETS.mcpHeader },
    { name: 'bad', server: 'envy', inject: { header: 'X-A' }, secret: SECRETS.stdioEnv },
    { name: 'bad', server: 'remote', inject: { header: 'X-A' }, secret: `${SECRETS.mcpHeader}\n` },
    { name: 'bad', server: 'remote', inject: { header: 'X-A' }, secret: SECRETS.mcpHeader, extra: SECRETS.mcpHeader },
    { name: 'bad', server: 'remote', inject: { env: 'X' }, secret: 123 },
  ]) assert.ok((await call('POST', '/api/v1/credentials', body)).status >= 400);
  const raw = await fetch(`${url}/api/v1/credentials`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: `{"secret":"${SECRETS.mcpHeader}"` });
  keep('malformed JSON', await raw.text());
  await call('GET', '/api/v1/credentials');
  await call('GET', `/api/v1/credentials/${String(remote.body.id)}`);
  await call('GET', '/api/v1/openapi.json', undefined, null);
  await cli(['credential', 'list']);
  await cli(['credential', 'show', String(remote.body.id), '--json']);

  // Agents: tool calls through both MCP upstreams, with an upstream that tries to hand the secret back.
  const remoteAgent = await agentFor(['remote/ping'], `${url}/mcp/remote`);
  const remoteClient = await connectToGateway(`${url}/mcp/remote`, remoteAgent.token, remoteAgent.key, 'leak-check');
  keep('remote tools/list', await remoteClient.listTools());
  keep('remote ping', await remoteClient.callTool({ name: 'ping', arguments: {} }));
  await remoteClient.close();
  const envyAgent = await agentFor(['envy/*'], `${url}/mcp/envy`);
  const envyClient = await connectToGateway(`${url}/mcp/envy`, envyAgent.token, envyAgent.key, 'leak-check');
  keep('envy tools/list', await envyClient.listTools());
  for (const [name, args] of [['env-digest', { name: 'UPSTREAM_TOKEN' }], ['env-names', {}], ['leak-env', { name: 'UPSTREAM_TOKEN' }], ['print-env', { name: 'UPSTREAM_TOKEN' }], ['crash', {}]] as const) {
    keep(`envy ${name}`, await envyClient.callTool({ name, arguments: args }).catch((error: Error) => ({ error: error.message, data: (error as { data?: unknown }).data })));
  }
  await new Promise((r) => setTimeout(r, 500));
  await envyClient.close().catch(() => undefined);

  // The HTTP API proxy, with upstream answers that carry the credential back.
  const apiAgent = await agentFor(['api/GET:/**'], `${url}/proxy/api`);
  for (const path of ['/repos/app', '/echo-header/x-api-key', '/header-back/x-api-key', '/gzip-header/x-api-key', '/status/500']) {
    const target = `${url}/proxy/api${path}`;
    const got = await fetch(target, { headers: { authorization: `DPoP ${apiAgent.token}`, dpop: dpopProof(apiAgent.key, 'GET', target, apiAgent.token) } })
      .then(async (r) => `${r.status}\n${[...r.headers].join('\n')}\n${await r.text().catch((e: Error) => e.message)}`, (e: Error) => `failed: ${e.message}`);
    keep(`proxy ${path}`, got);
  }
  const denied = `${url}/proxy/api/repos`;
  keep('proxy denied', await (await fetch(denied, { method: 'DELETE', headers: { authorization: `DPoP ${apiAgent.token}`, dpop: dpopProof(apiAgent.key, 'DELETE', denied, apiAgent.token) } })).text());

  // The record: the events through the API, the exports, and the database itself.
  await call('GET', '/api/v1/audit/events?limit=1000');
  await cli(['audit', 'export', '--format', 'ocsf']);
  await cli(['audit', 'export']);
  await cli(['audit', 'tail', '--limit', '1000']);
  await call('GET', '/metrics', undefined, null);

  // The secrets did reach the upstreams, each where it belongs.
  assert.ok(mcp.received.length > 0 && mcp.received.every((r) => r.headers.authorization === `Bearer ${SECRETS.mcpHeader}`));
  assert.ok(api.received.length > 0 && api.received.every((r) => r.headers['x-api-key'] === SECRETS.apiHeader));
  const digest = seen.find((s) => s.where === 'envy env-digest')?.text ?? '';
  assert.match(digest, /"set":true/);

  child.kill('SIGTERM');
  await new Promise<void>((resolve) => { child.once('exit', () => resolve()); setTimeout(resolve, 5000).unref(); });
  keep('mandate serve stdout and stderr', output);
  assert.match(output, /upstream envy .*exited with code 3/, 'the crash was logged (with its stderr lines)');
  const db = new DatabaseSync(join(dataDir, 'mandate.db'), { readOnly: true });
  for (const table of ['audit_events', 'credentials', 'servers', 'mandates', 'audit_checkpoints']) keep(`table ${table}`, db.prepare(`SELECT * FROM ${table}`).all().map((row) => Object.fromEntries(Object.entries(row as Record<string, unknown>).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v]))));
  db.close();
  for (const file of await readdir(dataDir)) {
    if (file.startsWith('mandate.db')) keep(`file ${file}`, (await readFile(join(dataDir, file))).toString('latin1'));
  }

  const events = seen.find((s) => s.where.startsWith('GET /api/v1/audit/events'))?.text ?? '';
  assert.match(events, /"method":"credential\/use"/);
  assert.match(events, /reply_carries_credential/);
  const leaks = seen.flatMap(({ where, text }) => FORMS.filter((form) => text.includes(form)).map((form) => `${where}: ${form.slice(0, 24)}…`));
  assert.deepEqual(leaks, [], 'a secret (or its base64 or hex) appeared');
});
