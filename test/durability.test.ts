// Nothing acknowledged is lost: calls go through a real `mandate serve` process while it
// is killed with SIGKILL mid-load; every call whose result reached the agent is in the
// audit log afterwards, with its decision and its result.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { argumentsDigest } from '../src/audit/event.ts';
import { createApp } from '../src/app.ts';
import { clientAssertion, dpopProof, generateAgentKey } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { loadConfig } from '../src/config.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { init } from '../src/init.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { freePort } from '../src/lib/free-port.ts';
import { SQLITE_FILE } from '../src/store/open.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const MANDATE = new URL('../bin/mandate.js', import.meta.url).pathname;

describe('kill -9', () => {
  it('loses no acknowledged call from the audit log', { timeout: 60_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'mandate-kill-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const config = loadConfig({}, { dataDir, port, host: '127.0.0.1' });
    await init(config);
    const app = await createApp(config);
    const now = nowSeconds();
    const alice = await app.people.add({ id: 'alice' }, now);
    await app.catalog.add({ name: 'everything', upstream: { transport: 'stdio', command: process.execPath, args: [EVERYTHING, 'stdio'] }, tools: [{ name: 'echo', sensitivity: 'public', effect: 'read' }] }, now);
    const { agent, enrollmentToken } = await app.agents.add({ name: 'load-bot', owner: 'alice', purpose: 'load' }, now);
    const key = generateAgentKey();
    await app.agents.enroll(enrollmentToken, key.publicJwk, now);
    key.clientId = agent.spiffeId;
    const { mandateToken } = await app.mandates.grant(alice, { agentId: agent.id, purpose: 'load', allow: ['everything/echo'], ttl: 600 }, now);
    await app.close();

    const server = spawn(process.execPath, [MANDATE, 'serve'], { env: { ...process.env, MANDATE_DATA_DIR: dataDir, MANDATE_PORT: String(port), MANDATE_HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => server.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        server.stdout?.on('data', (d: Buffer) => d.toString().includes(url) && resolve());
        server.once('exit', (code) => reject(new Error(`mandate serve exited with ${code}`)));
      });
      const tokenUrl = `${url}/oauth/token`;
      const answer = await fetch(tokenUrl, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpopProof(key, 'POST', tokenUrl) },
        body: new URLSearchParams({
          grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: mandateToken, subject_token_type: TOKEN_TYPE_JWT, resource: `${url}/mcp/everything`,
          client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(key, tokenUrl),
        }),
      }).then((r) => r.json()) as { access_token: string };
      const clients = await Promise.all([1, 2, 3, 4].map(() => connectToGateway(`${url}/mcp/everything`, answer.access_token, key, 'load')));

      const acknowledged: string[] = [];
      let n = 0;
      let killed = false;
      const worker = async (client: (typeof clients)[number]) => {
        while (!killed) {
          const args = { message: `call ${n++}` };
          try {
            const result = await client.callTool({ name: 'echo', arguments: args });
            if (!result.isError) acknowledged.push(argumentsDigest(args));
          } catch {
            return; // the server is gone
          }
        }
      };
      const load = Promise.all(clients.map(worker));
      // Killed in the middle of the load, once it has run a while, however busy the machine is.
      for (const started = Date.now(); acknowledged.length < 40 && Date.now() - started < 30_000;) await new Promise((resolve) => setTimeout(resolve, 20));
      killed = true;
      server.kill('SIGKILL');
      await Promise.race([load, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await exited;
      assert.ok(acknowledged.length > 20, `the load ran (${acknowledged.length} calls acknowledged)`);

      const store = new SqliteStore(join(dataDir, SQLITE_FILE));
      const events = await store.listAuditEvents({ afterSeq: 0, limit: 1_000_000 });
      await store.close();
      const results = new Set(events.filter((e) => e.kind === 'result' && e.outcome === 'ok').map((e) => e.argumentsDigest));
      const decisions = new Set(events.filter((e) => e.kind === 'decision' && e.decision === 'allow').map((e) => e.argumentsDigest));
      const lost = acknowledged.filter((digest) => !results.has(digest) || !decisions.has(digest));
      assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged calls missing from the audit log`);
    } finally {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
