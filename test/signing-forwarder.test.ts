// The signing forwarder `npm run conformance` puts in front of the gateway: a client
// with no DPoP reaches the gateway as the agent through it, it exchanges a new task
// token before the current one expires, and it signs for loopback names only.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startSigningForwarder, TaskTokens, type SigningForwarder } from '../scripts/conformance/signing-forwarder.ts';
import { grantScenario, startMandate, type Harness } from './harness.ts';

const FIXTURE = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

let h: Harness;
let upstream: ChildProcess;
let forwarder: SigningForwarder;
/** Every task token the forwarder signed with. */
const used = new Set<string>();

before(async () => {
  // Task tokens of 2 s, and no leeway past their expiry: an expired one is refused at once.
  h = await startMandate({ taskTokenTtl: 2, clockTolerance: 0 });
  upstream = spawn(process.execPath, [...FLAGS, FIXTURE, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    upstream.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /listening on (\S+)/.exec(out)?.[1];
      if (found) resolve(found);
    });
    upstream.once('exit', (code) => reject(new Error(`the conformance fixture exited with ${code}`)));
  });
  assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'conf', url } })).status, 201);
  const scenario = await grantScenario(h, { allow: ['conf/test_simple_text'] });
  const resource = `${h.url}/mcp/conf`;
  const tokens = new TaskTokens(h.url, resource, scenario.mandateToken, scenario.key);
  const get = tokens.get.bind(tokens);
  tokens.get = async () => {
    const token = await get();
    used.add(token);
    return token;
  };
  forwarder = await startSigningForwarder(resource, scenario.key, tokens);
});
after(async () => {
  await forwarder.close();
  await h.close();
  upstream.kill();
});

/** The status of an initialize POSTed to the forwarder with these headers (node:http: fetch may not set Host). */
const post = (headers: Record<string, string>) => new Promise<number>((resolve, reject) => {
  const req = request(forwarder.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (res) => {
    res.resume();
    resolve(res.statusCode ?? 0);
  });
  req.once('error', reject);
  req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }));
});

describe('the signing forwarder', () => {
  it('lets a client without DPoP call through the gateway as the agent, past the expiry of its first task token', async () => {
    const client = new Client({ name: 'plain-client', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(forwarder.url)));
    const call = async () => JSON.stringify((await client.callTool({ name: 'test_simple_text', arguments: {} })).content);
    assert.match(await call(), /simple text response/);
    await new Promise((resolve) => setTimeout(resolve, 2200));
    assert.match(await call(), /simple text response/);
    assert.ok(used.size >= 2, `a new task token was exchanged (${used.size} used)`);
    const events = (await h.api('GET', '/api/v1/audit/events?limit=50')).body.events as Array<Record<string, unknown>>;
    assert.ok(events.some((e) => e.kind === 'result' && e.tool === 'test_simple_text' && e.person === 'alice'), 'the calls are the agent\'s, under alice\'s mandate');
    await client.close();
  });

  it('refuses a Host or an Origin that is not loopback, so a rebinding page gets nothing signed', async () => {
    const before = used.size;
    assert.equal(await post({ host: 'evil.example.com' }), 403);
    assert.equal(await post({ origin: 'http://evil.example.com' }), 403);
    assert.equal(used.size, before, 'no token was even looked up');
    assert.equal(await post({ host: 'localhost', origin: 'http://localhost' }), 200);
  });
});
