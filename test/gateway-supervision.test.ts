// Mandate supervises stdio upstreams: a crash fails the call it interrupted with a
// clear error, the process is restarted and re-initialized so the agent's session
// carries on, its stderr reaches the operator's log, and ending the session stops it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';
import { until } from './fixtures/until.ts';

const FRAGILE = new URL('./fixtures/fragile-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];

let h: Harness;
before(async () => {
  h = await startMandate();
  assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'fragile', command: process.execPath, args: [...FLAGS, FRAGILE] } })).status, 201);
});
after(() => h.close());

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a supervised stdio upstream', () => {
  it('is restarted after a crash, and the same session carries on', { timeout: 20_000 }, async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map(String).join(' '));
    try {
      const s = await grantScenario(h, { allow: ['fragile/*'] });
      const token = String((await exchange(h, s, { resource: `${h.url}/mcp/fragile` })).body.access_token);
      const client = await connectToGateway(`${h.url}/mcp/fragile`, token, s.key, 'supervision');
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ['crash', 'pid']);
      const pidOf = async () => Number(((await client.callTool({ name: 'pid', arguments: {} })).content as Array<{ text: string }>)[0]?.text);
      const first = await pidOf();
      assert.ok(alive(first));

      await assert.rejects(client.callTool({ name: 'crash', arguments: {} }), (error: unknown) => {
        assert.ok(error instanceof McpError);
        assert.match(error.message, /the upstream server fragile exited with code 3 before answering; it is being restarted/);
        assert.doesNotMatch(error.message, /about to crash/, 'the upstream\'s stderr is for the operator, not the agent');
        return true;
      });
      const second = await pidOf();
      assert.notEqual(second, first, 'a new process answers');
      assert.ok(!alive(first));
      assert.ok(logged.some((line) => /upstream fragile \(pid \d+\) exited with code 3; its last stderr lines:\n\s+fragile-fixture: about to crash on purpose/.test(line)), logged.join('\n'));
      assert.ok(logged.some((line) => /upstream fragile restarted \(pid \d+\)/.test(line)));

      // Ending the session (DELETE) stops its process.
      await (client.transport as StreamableHTTPClientTransport).terminateSession();
      await until('the upstream process ends with its session', () => !alive(second));
      await client.close();
    } finally {
      console.error = original;
    }
  });
});

describe('an idle session', () => {
  it('is ended with its upstream process, and answers 404 afterwards', { timeout: 20_000 }, async () => {
    const idle = await startMandate({ sessionIdle: 1 });
    try {
      assert.equal((await idle.api('POST', '/api/v1/servers', { body: { name: 'fragile', command: process.execPath, args: [...FLAGS, FRAGILE] } })).status, 201);
      const s = await grantScenario(idle, { allow: ['fragile/*'] });
      const token = String((await exchange(idle, s, { resource: `${idle.url}/mcp/fragile` })).body.access_token);
      const client = await connectToGateway(`${idle.url}/mcp/fragile`, token, s.key, 'idle');
      await client.listTools();
      const pid = Number(((await client.callTool({ name: 'pid', arguments: {} })).content as Array<{ text: string }>)[0]?.text);
      assert.ok(alive(pid));
      await until('the idle session\'s upstream process is stopped', () => !alive(pid));
      assert.equal(idle.app.gateway.sessionCount, 0);
      await assert.rejects(client.callTool({ name: 'pid', arguments: {} }), /404|Session not found/);
      await client.close();
    } finally {
      await idle.close();
    }
  });
});
