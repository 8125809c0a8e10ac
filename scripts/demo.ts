// `npm run demo`: Mandate end to end, narrated. A real Mandate (embedded SQLite in a
// temporary directory), a real MCP server from npm (@modelcontextprotocol/server-everything
// over stdio), and the real MCP SDK client as the agent: a filtered tool list, an
// allowed call, a denied tool, a call held until a person approves exactly it, a
// revoked mandate denied on its next call, the audit trail.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createApp } from '../src/app.ts';
import { listen } from '../src/api/server.ts';
import { dpopProof, generateAgentKey } from '../src/client/agent-key.ts';
import { exchangeForTaskToken } from '../src/client/task-token.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { describeEvent } from '../src/cli/commands/audit.ts';
import { loadConfig } from '../src/config.ts';
import { ADMIN_TOKEN_FILE, init } from '../src/init.ts';
import { freePort } from '../src/lib/free-port.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const tty = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const [bold, dim, green, red] = [paint(1), paint(2), paint(32), paint(31)];
let step = 0;
const say = (title: string, ...lines: string[]) => {
  console.log(`\n${bold(`${++step}. ${title}`)}`);
  for (const line of lines) console.log(`   ${line}`);
};
const detail = (line: string) => console.log(`   ${dim(line)}`);

const dataDir = await mkdtemp(join(tmpdir(), 'mandate-demo-'));
const config = loadConfig({}, { dataDir, port: await freePort(), host: '127.0.0.1' });
await init(config);
const app = await createApp(config);
const server = await listen(app);
const admin = (await readFile(join(dataDir, ADMIN_TOKEN_FILE), 'utf8')).trim();
const clients: Client[] = [];

async function api(method: string, path: string, body?: unknown, token = admin): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json() as Record<string, unknown>;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

try {
  say('Mandate is running', `${server.url}  (embedded SQLite in ${dataDir})`);

  await api('POST', '/api/v1/users', { id: 'alice', name: 'Alice' });
  await api('POST', '/api/v1/servers', {
    name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'],
    tools: [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }, { name: 'get-sum', sensitivity: 'public', effect: 'read', egress: 'internal' }, { name: 'get-env', sensitivity: 'secret', effect: 'read' }],
  });
  say('An upstream MCP server is registered', 'everything: @modelcontextprotocol/server-everything over stdio, one process per agent session',
    'labels: echo and get-sum public/read; get-env secret (it prints the environment)');

  const added = await api('POST', '/api/v1/agents', { name: 'research-bot', owner: 'alice', purpose: 'summarise the weekly numbers' });
  const agent = added.agent as { id: string; spiffe_id: string };
  const key = generateAgentKey();
  await api('POST', '/api/v1/agents/enroll', { enrollment_token: added.enrollment_token, jwk: key.publicJwk }, '');
  key.clientId = agent.spiffe_id;
  say('An agent proves what it is with its own key', `${agent.spiffe_id} enrolled its P-256 public key (the private key never leaves it)`);

  const alice = String((await api('POST', '/api/v1/users/alice/login')).token);
  const granted = await api('POST', '/api/v1/mandates', { agent: agent.id, purpose: 'summarise the weekly numbers', allow: ['everything/echo', 'everything/get-sum'], ttl: 900, max_calls: 20 }, alice);
  const mandate = granted.mandate as { id: string };
  say('Alice grants the agent a mandate', `${mandate.id}: allow everything/echo and everything/get-sum, for 15 minutes, at most 20 calls`);

  const tokenUrl = `${server.url}/oauth/token`;
  const resource = `${server.url}/mcp/everything`;
  const exchanged = await exchangeForTaskToken(tokenUrl, String(granted.mandate_token), key, resource);
  const claims = decodeJwt(exchanged.accessToken);
  say('The agent trades the mandate for a task token (OAuth 2.0 Token Exchange, DPoP-bound)',
    `aud ${String(claims.aud)}`, `scope "${String(claims.scope)}"`, `act ${JSON.stringify(claims.act)}  (sub ${String(claims.sub)})`,
    `cnf.jkt ${String((claims.cnf as { jkt: string }).jkt)}  — useless without the agent's key`, `expires in ${exchanged.expiresIn} s`);

  const direct = new Client({ name: 'demo-direct', version: '1.0.0' });
  await direct.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'ignore' }));
  clients.push(direct);
  const offered = (await direct.listTools()).tools.map((t) => t.name);
  const client = await connectToGateway(resource, exchanged.accessToken, key, 'demo-agent');
  clients.push(client);
  const visible = (await client.listTools()).tools.map((t) => t.name);
  say('Through the gateway, the agent sees only what its mandate allows',
    `the server offers ${offered.length} tools: ${offered.join(', ')}`, green(`the agent sees ${visible.length}: ${visible.join(', ')}`));

  const echoed = await client.callTool({ name: 'echo', arguments: { message: 'weekly numbers are in' } });
  say('An allowed call', `tools/call echo → ${green(JSON.stringify((echoed.content as Array<{ text: string }>)[0]?.text))}`,
    'authenticated (token + fresh DPoP proof), decided by Cedar, counted, recorded, then relayed');

  const refusal = async (work: Promise<unknown>): Promise<string> => {
    try {
      await work;
      return 'allowed (unexpected!)';
    } catch (error) {
      if (error instanceof McpError) return `${error.message}${error.data ? `  ${JSON.stringify(error.data)}` : ''}`;
      const body = /(\{.*\})/.exec((error as Error).message)?.[1];
      const refused = body ? JSON.parse(body) as { error: string; error_description: string; mandate_error: string } : null;
      return refused ? `HTTP 401 ${refused.error} (${refused.mandate_error}): ${refused.error_description}` : (error as Error).message;
    }
  };
  say('A tool outside the mandate is denied', red(await refusal(client.callTool({ name: 'get-env', arguments: {} }))), 'the upstream never saw the call');

  await api('PUT', '/api/v1/policies/demo-approval.cedar', {
    text: '@id("sums-need-the-owner")\n@approval("owner")\nforbid (principal is Agent, action == Action::"tools/call", resource is Tool)\nwhen { resource.name == "get-sum" };\n',
  });
  const previewUrl = `${resource}/preview`;
  const preview = await fetch(previewUrl, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `DPoP ${exchanged.accessToken}`, dpop: dpopProof(key, 'POST', previewUrl, exchanged.accessToken) },
    body: JSON.stringify({ name: 'get-sum', arguments: { a: 19, b: 23 } }),
  }).then((r) => r.json()) as { decision: string; approvers: string[][]; policies: string[] };
  say('A policy asks for the owner\'s yes before get-sum; the agent can tell in advance',
    '@approval("owner") forbid … when { resource.name == "get-sum" }',
    `POST /mcp/everything/preview → ${preview.decision}, approvers ${JSON.stringify(preview.approvers)}, by ${preview.policies.join(', ')}`);
  const held = client.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } });
  let asked: { id: string; digest: string } | undefined;
  for (const started = Date.now(); !asked && Date.now() - started < 10_000;) {
    asked = ((await api('GET', '/api/v1/approvals?state=pending', undefined, alice)).approvals as Array<{ id: string; digest: string }>)[0];
    if (!asked) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!asked) throw new Error('the held call asked for no approval');
  await api('POST', `/api/v1/approvals/${asked.id}/approve`, { note: 'fine for the weekly report' }, alice);
  const summed = await held;
  say('The call is held until Alice approves exactly it, then goes through once',
    `approval ${asked.id} for ${asked.digest.slice(0, 23)}… (server, tool, arguments, mandate, agent)`,
    'alice: mandate approvals approve (here through the API)',
    `tools/call get-sum {a: 19, b: 23} → ${green(JSON.stringify((summed.content as Array<{ text: string }>)[0]?.text))}`);

  await api('POST', `/api/v1/mandates/${mandate.id}/revoke`, { reason: 'task cancelled' }, alice);
  say('Alice revokes the mandate; the very next call is denied', red(await refusal(client.callTool({ name: 'echo', arguments: { message: 'still there?' } }))));

  const { events } = await api('GET', '/api/v1/audit/events?limit=50') as { events: Array<Parameters<typeof describeEvent>[0]> };
  say('The audit trail (hash-chained; arguments by digest only)', ...events.map(describeEvent));
  detail('the same with: mandate audit tail');
  console.log(`\n${green('Done.')} Each step above used the public HTTP API and a real MCP client.`);
} finally {
  await Promise.allSettled(clients.map((c) => c.close()));
  await server.close();
  await app.close();
  await rm(dataDir, { recursive: true, force: true });
}
