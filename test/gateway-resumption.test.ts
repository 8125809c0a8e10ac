// An HTTP upstream may end the event stream of an answer before its response and
// expect the client to resume it from the last event id (SEP-1699 polling, what the
// SDK's server does with an event store when a tool calls closeSSEStream). Through the
// gateway the agent still gets its answer; an answer that ends with nothing to resume
// from fails its call instead of leaving it open for ever.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LATEST_PROTOCOL_VERSION, McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';

const FIXTURE = new URL('./fixtures/conformance-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const CALL = { timeout: 8000 };

let h: Harness;
let sdkUpstream: ChildProcess;
let polling: Server;
/** The Last-Event-ID of each GET the hand-written upstream received. */
const resumedFrom: string[] = [];

function body(req: IncomingMessage): Promise<{ id?: number | string; method?: string; params?: { name?: string } }> {
  return new Promise((resolve) => {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).once('end', () => resolve(JSON.parse(text)));
  });
}

/**
 * A streamable-HTTP upstream written by hand to close streams exactly so: `resumed`
 * sends an event id and a retry hint, then ends its stream and answers on the GET that
 * resumes from that id; `abandoned` ends its stream with no id and no answer.
 */
function startPollingUpstream(): Promise<string> {
  let pendingCall: number | string | undefined;
  polling = createServer((req, res) => {
    void (async () => {
      const headers = { 'mcp-session-id': 'polling-session' };
      if (req.method === 'GET') {
        const last = req.headers['last-event-id'];
        if (typeof last !== 'string') return void res.writeHead(405).end(); // no stream outside requests
        resumedFrom.push(last);
        res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' });
        return void res.end(`id: e2\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: pendingCall, result: { content: [{ type: 'text', text: 'answered after the resumption' }] } })}\n\n`);
      }
      if (req.method === 'DELETE') return void res.writeHead(200).end();
      const message = await body(req);
      if (message.id === undefined) return void res.writeHead(202, headers).end();
      if (message.method === 'initialize') {
        return void res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({
          jsonrpc: '2.0', id: message.id, result: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: { tools: {} }, serverInfo: { name: 'polling', version: '1.0.0' } },
        }));
      }
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' });
      if (message.params?.name === 'resumed') {
        pendingCall = message.id;
        return void res.end('id: e1\nretry: 50\ndata: \n\n');
      }
      res.end(': nothing to resume from\n\n');
    })();
  });
  return new Promise((resolve) => polling.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(polling.address() as AddressInfo).port}/mcp`)));
}

function startSdkUpstream(): Promise<string> {
  sdkUpstream = spawn(process.execPath, [...FLAGS, FIXTURE, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    sdkUpstream.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /listening on (\S+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    sdkUpstream.once('exit', (code) => reject(new Error(`the conformance fixture exited with ${code}`)));
  });
}

before(async () => {
  h = await startMandate();
  for (const [name, url] of [['polling', await startPollingUpstream()], ['sdk-polling', await startSdkUpstream()]] as const) {
    const added = await h.api('POST', '/api/v1/servers', { body: { name, url } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
  }
});
after(async () => {
  await h.close();
  polling.closeAllConnections();
  polling.close();
  sdkUpstream.kill();
});

async function agentOn(server: string, tools: string[]): Promise<Client> {
  const scenario = await grantScenario(h, { allow: tools.map((t) => `${server}/${t}`) });
  const resource = `${h.url}/mcp/${server}`;
  const answer = await exchange(h, scenario, { resource });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return connectToGateway(resource, String(answer.body.access_token), scenario.key, 'resumption-test');
}

const textOf = (result: Awaited<ReturnType<Client['callTool']>>): string => (result.content as Array<{ text?: string }>).map((c) => c.text ?? '').join('\n');

describe('an HTTP upstream that ends an answer early', () => {
  it('is resumed from its last event id after the delay it asked for, and the agent gets the answer', async () => {
    const client = await agentOn('polling', ['resumed']);
    const started = Date.now();
    assert.equal(textOf(await client.callTool({ name: 'resumed', arguments: {} }, undefined, CALL)), 'answered after the resumption');
    assert.deepEqual(resumedFrom, ['e1']);
    assert.ok(Date.now() - started >= 50, 'the retry hint is waited for');
    await client.close();
  });

  it('fails the call when there is nothing to resume from, instead of leaving it open', async () => {
    const client = await agentOn('polling', ['abandoned']);
    await assert.rejects(client.callTool({ name: 'abandoned', arguments: {} }, undefined, CALL), (error: unknown) => {
      assert.ok(error instanceof McpError, String(error));
      assert.match(error.message, /the upstream server polling ended its answer without responding/);
      return true;
    });
    await client.close();
  });

  it('answers a tool of the SDK server that closes its stream mid-call (closeSSEStream)', async () => {
    const client = await agentOn('sdk-polling', ['test_reconnection']);
    assert.equal(textOf(await client.callTool({ name: 'test_reconnection', arguments: {} }, undefined, CALL)), 'Reconnection test completed successfully');
    await client.close();
  });
});
