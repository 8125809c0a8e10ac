// MCP features pass through the gateway faithfully: a real SDK client, authenticated
// as an agent under a mandate, reaches a real MCP server (test/fixtures/feature-server.ts)
// over stdio and over streamable HTTP, and sees what it would see without the gateway:
// progress, cancellation, sampling and elicitation during a call, paged listings with
// their cursors, logging, completion, resources and prompts, both protocol revisions,
// and server notifications on the GET stream.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema, SUPPORTED_PROTOCOL_VERSIONS,
  type CreateMessageRequest, type ElicitRequest, type LoggingMessageNotification, type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { dpopProof } from '../src/client/agent-key.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';
import { until } from './fixtures/until.ts';

const FIXTURE = new URL('./fixtures/feature-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
/** The fixture's tools in the order it lists them, 3 to a page. */
const TOOLS = ['echo', 'count', 'wait-for-cancel', 'cancellations', 'ask-model', 'ask-user', 'log'];
/** Every request the client makes fails after this rather than hang on a broken relay. */
const REQUEST_TIMEOUT = 5000;
const TEST_TIMEOUT = { timeout: 15_000 };
/** The fixture's cursor for the page of `list` starting at `offset`. */
const cursor = (list: string, offset: number): string => Buffer.from(`${list}:${offset}`).toString('base64');

let h: Harness;
let httpFixture: ChildProcess | undefined;

/** Rejects with a message naming what was awaited if `promise` does not settle in time. */
function within<T>(promise: Promise<T>, what: string, ms = REQUEST_TIMEOUT): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The JSON-RPC messages in the `data:` lines of a server-sent event stream. */
function sseMessages(stream: string): Array<{ method?: string; params?: Record<string, unknown> }> {
  return stream.split('\n').filter((line) => line.startsWith('data:')).flatMap((line) => {
    try {
      return [JSON.parse(line.slice('data:'.length)) as { method?: string; params?: Record<string, unknown> }];
    } catch {
      return [];
    }
  });
}

async function startHttpFixture(): Promise<string> {
  const child = spawn(process.execPath, [...FLAGS, FIXTURE, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  httpFixture = child;
  return within(new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const url = /listening on (\S+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    child.once('exit', (code) => reject(new Error(`the feature server exited with ${code}`)));
  }), 'the HTTP feature server to listen', 10_000);
}

async function registerServer(body: Record<string, unknown>): Promise<void> {
  const added = await h.api('POST', '/api/v1/servers', { body });
  assert.equal(added.status, 201, JSON.stringify(added.body));
}

let httpUrl: string;
before(async () => {
  h = await startMandate();
  httpUrl = await startHttpFixture();
  await registerServer({ name: 'feature', command: process.execPath, args: [...FLAGS, FIXTURE, 'stdio'] });
  await registerServer({ name: 'feature-http', url: httpUrl });
});
after(async () => {
  await h.close();
  httpFixture?.kill();
});

interface Agent {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Everything received so far on the GET (server-sent) stream(s). */
  getStream: () => string;
  /** The MCP-Protocol-Version header of every POST after initialize. */
  versionHeaders: Array<string | null>;
}

const open = new Set<Agent>();
async function disconnect(agent: Agent): Promise<void> {
  open.delete(agent);
  await agent.transport.terminateSession().catch(() => undefined);
  await agent.client.close().catch(() => undefined);
}
afterEach(async () => {
  await Promise.all([...open].map(disconnect));
});

/**
 * A real SDK client, as an agent under a fresh mandate (by default naming every tool
 * of the fixture), connected to the gateway resource of `server`. `setup` registers
 * handlers before it connects; `protocolVersion` is the revision its initialize asks for.
 */
async function connectAgent(server: string, options: { allow?: string[]; protocolVersion?: string; setup?: (client: Client) => void } = {}): Promise<Agent> {
  const scenario = await grantScenario(h, { allow: options.allow ?? TOOLS.map((t) => `${server}/${t}`) });
  const resource = `${h.url}/mcp/${server}`;
  const answer = await exchange(h, scenario, { resource });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const token = String(answer.body.access_token);
  let stream = '';
  const versionHeaders: Array<string | null> = [];
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    fetch: async (input, init) => {
      const method = init?.method ?? 'GET';
      const headers = new Headers(init?.headers);
      headers.set('authorization', `DPoP ${token}`);
      headers.set('dpop', dpopProof(scenario.key, method, resource, token));
      let body = init?.body;
      if (method === 'POST' && typeof body === 'string') {
        const message = JSON.parse(body) as { method?: string; params?: { protocolVersion?: string } };
        if (message.method === 'initialize' && options.protocolVersion && message.params) {
          message.params.protocolVersion = options.protocolVersion;
          body = JSON.stringify(message);
        } else if (message.method !== 'initialize') {
          versionHeaders.push(headers.get('mcp-protocol-version'));
        }
      }
      const response = await fetch(input, { ...init, headers, body });
      if (method !== 'GET' || !response.ok || !response.body) return response;
      // Keep a copy of what the GET stream carries.
      const [mine, theirs] = response.body.tee();
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of mine) stream += decoder.decode(chunk as Uint8Array, { stream: true });
      })().catch(() => undefined);
      return new Response(theirs, { status: response.status, statusText: response.statusText, headers: response.headers });
    },
  });
  const client = new Client({ name: 'passthrough-test', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: { form: {} } } });
  options.setup?.(client);
  await client.connect(transport, { timeout: REQUEST_TIMEOUT });
  const agent: Agent = { client, transport, getStream: () => stream, versionHeaders };
  open.add(agent);
  return agent;
}

/** Calls a tool and returns the text of its result. */
async function call(agent: Agent, name: string, args: Record<string, unknown> = {}, options: { onprogress?: (p: Progress) => void; signal?: AbortSignal } = {}): Promise<string> {
  const result = await agent.client.callTool({ name, arguments: args }, undefined, { timeout: REQUEST_TIMEOUT, ...options });
  const content = result.content as Array<{ type: string; text?: string }>;
  assert.equal(result.isError, undefined, JSON.stringify(result));
  return content.map((c) => c.text ?? `[${c.type}]`).join('\n');
}

/** Every page of a listing: the items by name and the cursor each page pointed to. */
async function allPages(list: (cursor: string | undefined) => Promise<{ names: string[]; nextCursor?: string }>): Promise<{ pages: string[][]; cursors: string[] }> {
  const pages: string[][] = [];
  const cursors: string[] = [];
  let next: string | undefined;
  do {
    const page = await list(next);
    pages.push(page.names);
    next = page.nextCursor;
    if (next !== undefined) cursors.push(next);
  } while (next !== undefined && pages.length < 10);
  return { pages, cursors };
}

const toolPages = (agent: Agent) => allPages(async (c) => {
  const { tools, nextCursor } = await agent.client.listTools(c === undefined ? undefined : { cursor: c }, { timeout: REQUEST_TIMEOUT });
  return { names: tools.map((t) => t.name), nextCursor };
});

for (const { label, server } of [{ label: 'stdio', server: 'feature' }, { label: 'streamable HTTP', server: 'feature-http' }]) {
  describe(`MCP features through the gateway to a ${label} upstream`, () => {
    it('delivers the progress of a long call in order, then its result', TEST_TIMEOUT, async () => {
      const agent = await connectAgent(server);
      const progress: Progress[] = [];
      const result = await call(agent, 'count', { steps: 5 }, { onprogress: (p) => progress.push(p) });
      assert.equal(result, 'counted to 5');
      assert.deepEqual(progress.map((p) => [p.progress, p.total, p.message]), [1, 2, 3, 4, 5].map((n) => [n, 5, `step ${n}`]));
    });

    it('cancels a call upstream when the client aborts it, and the session keeps working', TEST_TIMEOUT, async () => {
      const agent = await connectAgent(server);
      const tag = randomUUID();
      const controller = new AbortController();
      // The tool reports progress once it runs upstream; that is when the user gives up.
      const pending = call(agent, 'wait-for-cancel', { tag }, { signal: controller.signal, onprogress: () => controller.abort('the user gave up') });
      await assert.rejects(within(pending, 'the aborted call to reject'), /the user gave up/);
      assert.deepEqual(JSON.parse(await call(agent, 'cancellations', { tag })), { cancelled: true, reason: 'the user gave up' }, 'the upstream tool saw its request cancelled');
      assert.equal(await call(agent, 'echo', { text: 'still here' }), 'echo: still here');
      const progress: number[] = [];
      assert.equal(await call(agent, 'count', { steps: 2 }, { onprogress: (p) => progress.push(p.progress) }), 'counted to 2');
      assert.deepEqual(progress, [1, 2]);
    });

    it('relays a sampling request made during a call to the client, and its answer to the tool', TEST_TIMEOUT, async () => {
      const asked: CreateMessageRequest['params'][] = [];
      const agent = await connectAgent(server, {
        setup: (client) => client.setRequestHandler(CreateMessageRequestSchema, (request) => {
          asked.push(request.params);
          return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'forty-two' } };
        }),
      });
      assert.equal(await call(agent, 'ask-model', { question: 'What is six times seven?' }), 'the model (test-model) said: forty-two');
      assert.equal(asked.length, 1);
      assert.deepEqual(asked[0]?.messages, [{ role: 'user', content: { type: 'text', text: 'What is six times seven?' } }]);
      assert.equal(asked[0]?.maxTokens, 100);
    });

    it('relays an elicitation request made during a call to the client, and its answer to the tool', TEST_TIMEOUT, async () => {
      const asked: ElicitRequest['params'][] = [];
      const agent = await connectAgent(server, {
        setup: (client) => client.setRequestHandler(ElicitRequestSchema, (request) => {
          asked.push(request.params);
          return { action: 'accept', content: { name: 'Ada' } };
        }),
      });
      assert.equal(await call(agent, 'ask-user', { question: 'What is your name?' }), 'the user answered accept: Ada');
      assert.equal(asked.length, 1);
      assert.equal(asked[0]?.message, 'What is your name?');
      assert.deepEqual((asked[0] as { requestedSchema?: unknown }).requestedSchema, { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] });
    });

    it('passes every page of tools/list, resources/list and prompts/list with its cursor', TEST_TIMEOUT, async () => {
      const named = await connectAgent(server);
      const expectedTools = { pages: [TOOLS.slice(0, 3), TOOLS.slice(3, 6), TOOLS.slice(6)], cursors: [cursor('tools', 3), cursor('tools', 6)] };
      assert.deepEqual(await toolPages(named), expectedTools, 'a mandate naming every tool');

      // Granted after the gateway has seen every page: a server-wide mandate covers them all.
      const agent = await connectAgent(server, { allow: [`${server}/*`] });
      assert.deepEqual(await toolPages(agent), expectedTools, 'a server-wide mandate');
      const resources = await allPages(async (c) => {
        const page = await agent.client.listResources(c === undefined ? undefined : { cursor: c }, { timeout: REQUEST_TIMEOUT });
        return { names: page.resources.map((r) => r.uri), nextCursor: page.nextCursor };
      });
      const items = [1, 2, 3, 4, 5, 6, 7].map((n) => `feature://item/${n}`);
      assert.deepEqual(resources, { pages: [items.slice(0, 3), items.slice(3, 6), items.slice(6)], cursors: [cursor('resources', 3), cursor('resources', 6)] });
      const prompts = await allPages(async (c) => {
        const page = await agent.client.listPrompts(c === undefined ? undefined : { cursor: c }, { timeout: REQUEST_TIMEOUT });
        return { names: page.prompts.map((p) => p.name), nextCursor: page.nextCursor };
      });
      assert.deepEqual(prompts, { pages: [['greet', 'prompt-1', 'prompt-2'], ['prompt-3', 'prompt-4']], cursors: [cursor('prompts', 3)] });
      // A cursor the upstream does not know is its error to give.
      await assert.rejects(agent.client.listResources({ cursor: 'bm90LWEtY3Vyc29y' }, { timeout: REQUEST_TIMEOUT }), /-32602.*unknown cursor for resources/);
    });

    it('shows and allows, under a server-wide mandate granted before the first listing, the tools on every page', TEST_TIMEOUT, async () => {
      // A fresh name for the same upstream: the gateway has never listed its tools.
      const fresh = `paged-${server}`;
      await registerServer(label === 'stdio' ? { name: fresh, command: process.execPath, args: [...FLAGS, FIXTURE, 'stdio'] } : { name: fresh, url: httpUrl });
      const agent = await connectAgent(fresh, { allow: [`${fresh}/*`] });
      // An agent lists its tools some time after its mandate was granted (here: in a later second).
      const granted = Math.floor(Date.now() / 1000);
      await new Promise((resolve) => setTimeout(resolve, (granted + 1) * 1000 - Date.now() + 20));
      const pages = await toolPages(agent);
      const lastPageTool = await call(agent, 'log').catch((error: Error) => error.message);
      // These tools were on offer when the mandate was granted: only the gateway had not paged that far yet.
      assert.deepEqual({ pages, lastPageTool }, {
        pages: { pages: [TOOLS.slice(0, 3), TOOLS.slice(3, 6), TOOLS.slice(6)], cursors: [cursor('tools', 3), cursor('tools', 6)] },
        lastPageTool: 'logged',
      });
    });

    it('sets the logging level upstream and delivers the log messages it lets through', TEST_TIMEOUT, async () => {
      const logs: LoggingMessageNotification['params'][] = [];
      const agent = await connectAgent(server, { setup: (client) => client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params)) });
      await agent.client.setLoggingLevel('warning', { timeout: REQUEST_TIMEOUT });
      assert.equal(await call(agent, 'log'), 'logged');
      assert.deepEqual(logs.map((l) => [l.level, l.logger, l.data]), [['warning', 'feature-fixture', 'warning message'], ['error', 'feature-fixture', 'error message']]);
      logs.length = 0;
      await agent.client.setLoggingLevel('debug', { timeout: REQUEST_TIMEOUT });
      assert.equal(await call(agent, 'log'), 'logged');
      assert.deepEqual(logs.map((l) => l.level), ['debug', 'info', 'warning', 'error']);
    });

    it('completes a prompt argument and a resource template variable', TEST_TIMEOUT, async () => {
      const agent = await connectAgent(server);
      const prompt = await agent.client.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: 'al' } }, { timeout: REQUEST_TIMEOUT });
      assert.deepEqual(prompt.completion.values, ['alpha', 'alpine']);
      const template = await agent.client.complete({ ref: { type: 'ref/resource', uri: 'feature://note/{name}' }, argument: { name: 'name', value: 'b' } }, { timeout: REQUEST_TIMEOUT });
      assert.deepEqual(template.completion.values, ['beta']);
    });

    it('reads resources, lists resource templates and gets prompts', TEST_TIMEOUT, async () => {
      const agent = await connectAgent(server, { allow: [`${server}/*`] });
      const item = await agent.client.readResource({ uri: 'feature://item/2' }, { timeout: REQUEST_TIMEOUT });
      assert.deepEqual(item.contents, [{ uri: 'feature://item/2', mimeType: 'text/plain', text: 'content of item 2' }]);
      const { resourceTemplates } = await agent.client.listResourceTemplates(undefined, { timeout: REQUEST_TIMEOUT });
      assert.deepEqual(resourceTemplates.map((t) => [t.name, t.uriTemplate, t.description]), [['note', 'feature://note/{name}', 'a note by name']]);
      const note = await agent.client.readResource({ uri: 'feature://note/beta' }, { timeout: REQUEST_TIMEOUT });
      assert.deepEqual(note.contents, [{ uri: 'feature://note/beta', mimeType: 'text/plain', text: 'the note called beta' }]);
      const prompt = await agent.client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } }, { timeout: REQUEST_TIMEOUT });
      assert.deepEqual(prompt.messages, [{ role: 'user', content: { type: 'text', text: 'Please greet Ada.' } }]);
    });

    for (const version of ['2025-06-18', '2025-11-25']) {
      it(`negotiates protocol revision ${version} with the upstream and works under it`, TEST_TIMEOUT, async () => {
        assert.ok(SUPPORTED_PROTOCOL_VERSIONS.includes(version), `the SDK supports ${version}`);
        const agent = await connectAgent(server, { protocolVersion: version });
        assert.equal(agent.transport.protocolVersion, version, 'the version the initialize result negotiated');
        assert.deepEqual(agent.client.getServerVersion(), { name: 'feature-fixture', version: '1.0.0' });
        assert.equal(await call(agent, 'echo', { text: version }), `echo: ${version}`);
        assert.ok(agent.versionHeaders.length >= 2);
        assert.deepEqual(new Set(agent.versionHeaders), new Set([version]), 'every later request carried the negotiated MCP-Protocol-Version');
      });
    }

    it('delivers notifications the upstream sends outside any request on the GET stream', TEST_TIMEOUT, async () => {
      let updated: (uri: string) => void = () => undefined;
      const update = new Promise<string>((resolve) => {
        updated = resolve;
      });
      const agent = await connectAgent(server, { setup: (client) => client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => updated(n.params.uri)) });
      await agent.client.subscribeResource({ uri: 'feature://item/3' }, { timeout: REQUEST_TIMEOUT });
      assert.equal(await within(update, 'notifications/resources/updated'), 'feature://item/3');
      const onGetStream = () => sseMessages(agent.getStream()).some((m) => m.method === 'notifications/resources/updated' && m.params?.uri === 'feature://item/3');
      await until('the update to arrive on the GET stream', onGetStream);
      await agent.client.unsubscribeResource({ uri: 'feature://item/3' }, { timeout: REQUEST_TIMEOUT });
    });
  });
}
