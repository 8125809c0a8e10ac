// Approvals at the gateway, end to end with the real MCP SDK client and a real MCP
// server: a call a policy holds for a person's yes is refused with the approval to
// ask for (or held until it is decided); once an eligible person approves, exactly
// that call — same server, tool, arguments, mandate and agent — passes once, within
// the window. Changed arguments, a second use, a lapsed window, a denial or an
// approver the policy does not name change nothing. The task-flow rule asks the
// initiator before an external tool after a confidential read. The preview says in
// advance what a call would need.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { clientAssertion, dpopProof, generateAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { startMandate, type Harness } from './harness.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const WINDOW_SECONDS = 2;

const APPROVAL_POLICY = `@id("sums-need-finance")
@approval("group:finance")
forbid (principal is Agent, action == Action::"tools/call", resource is Tool)
when { resource.server == "everything" && (resource.name == "get-sum" || resource.name == "trigger-long-running-operation") };
`;

interface Agent { id: string; spiffeId: string; key: AgentKey }
interface Event { seq: number; kind: string; method: string | null; decision: string | null; reason: string | null; approval?: string; tool: string | null }
interface Refusal { code: number; message?: string; data?: { code?: string; approval?: string; url?: string; approvers?: string[][]; policies?: string[] } }

let h: Harness;
const tokens: Record<string, string> = {};

async function setUp(harness: Harness): Promise<void> {
  for (const id of ['alice', 'bob', 'carol']) {
    assert.equal((await harness.api('POST', '/api/v1/users', { body: { id } })).status, 201);
    tokens[id] = String((await harness.api('POST', `/api/v1/users/${id}/login`)).body.token);
  }
  assert.equal((await harness.api('POST', '/api/v1/groups', { body: { name: 'finance', members: ['carol'] } })).status, 201);
  const servers: Array<[string, Array<Record<string, string>>]> = [
    ['everything', [
      { name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }, { name: 'get-sum', sensitivity: 'public', effect: 'read', egress: 'internal' },
      { name: 'trigger-long-running-operation', sensitivity: 'public', effect: 'read', egress: 'internal' },
    ]],
    ['vault', [{ name: 'echo', sensitivity: 'confidential', effect: 'read', egress: 'internal' }]],
    ['web', [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'external' }]],
  ];
  for (const [name, tools] of servers) {
    const added = await harness.api('POST', '/api/v1/servers', { body: { name, command: process.execPath, args: [EVERYTHING, 'stdio'], tools } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
  }
  assert.equal((await harness.api('PUT', '/api/v1/policies/approvals.cedar', { body: { text: APPROVAL_POLICY } })).status, 200);
}

async function enrolled(harness: Harness): Promise<Agent> {
  const added = await harness.api('POST', '/api/v1/agents', { body: { name: `bot-${Math.random().toString(36).slice(2, 8)}`, owner: 'alice', purpose: 'approval tests' } });
  const agent = added.body.agent as { id: string; spiffe_id: string };
  const key = generateAgentKey();
  assert.equal((await harness.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: key.publicJwk } })).status, 200);
  key.clientId = agent.spiffe_id;
  return { id: agent.id, spiffeId: agent.spiffe_id, key };
}

/** A new agent with a mandate from alice, connected to each server it names. */
async function connected(harness: Harness, allow: string[]): Promise<{ agent: Agent; mandate: string; clients: Record<string, Client>; tasks: Record<string, string> }> {
  const agent = await enrolled(harness);
  const granted = await harness.api('POST', '/api/v1/mandates', { token: tokens.alice, body: { agent: agent.id, purpose: 'quarterly numbers', allow, ttl: 600 } });
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  const clients: Record<string, Client> = {};
  const tasks: Record<string, string> = {};
  const tokenUrl = `${harness.url}/oauth/token`;
  for (const server of new Set(allow.map((a) => a.split('/')[0] as string))) {
    const answer = await harness.form('/oauth/token', {
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: String(granted.body.mandate_token), subject_token_type: TOKEN_TYPE_JWT, resource: `${harness.url}/mcp/${server}`,
      client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(agent.key, tokenUrl),
    }, { dpop: dpopProof(agent.key, 'POST', tokenUrl) });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    tasks[server] = String(answer.body.access_token);
    clients[server] = await connectToGateway(`${harness.url}/mcp/${server}`, tasks[server], agent.key, 'approvals');
  }
  return { agent, mandate: String((granted.body.mandate as { id: string }).id), clients, tasks };
}

/** The tool's text, or the refusal (JSON-RPC error) it got. */
async function call(client: Client, name: string, args: Record<string, unknown>): Promise<string | Refusal> {
  try {
    const result = await client.callTool({ name, arguments: args }) as { content: Array<{ text: string }> };
    return result.content[0]?.text ?? '';
  } catch (error) {
    return error as Refusal;
  }
}

function refused(answer: string | Refusal, code: string): Refusal {
  assert.equal(typeof answer, 'object', `expected a refusal, got ${String(answer)}`);
  const refusal = answer as Refusal;
  assert.equal(refusal.code, -32003);
  assert.equal(refusal.data?.code, code, JSON.stringify(refusal.data));
  return refusal;
}

const decide = (harness: Harness, id: string, verb: 'approve' | 'deny', person: string, body: Record<string, unknown> = {}) =>
  harness.api('POST', `/api/v1/approvals/${id}/${verb}`, { token: tokens[person], body });

const eventsAfter = async (harness: Harness, seq: number): Promise<Event[]> => (await harness.api('GET', `/api/v1/audit/events?after=${seq}&limit=1000`)).body.events as Event[];
const lastSeq = async (harness: Harness): Promise<number> => ((await harness.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;

async function preview(harness: Harness, agent: Agent, task: string, server: string, body: unknown): Promise<Record<string, unknown>> {
  const url = `${harness.url}/mcp/${server}/preview`;
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `DPoP ${task}`, dpop: dpopProof(agent.key, 'POST', url, task) }, body: JSON.stringify(body) });
  assert.equal(response.status, 200, await response.clone().text());
  return await response.json() as Record<string, unknown>;
}

before(async () => {
  h = await startMandate({ approvalWait: 0, approvalWindow: WINDOW_SECONDS, approvalDenialQuiet: WINDOW_SECONDS });
  await setUp(h);
});
after(() => h.close());

describe('a call that needs approval', () => {
  it('is refused with the approval to ask for; once approved, exactly that call passes once', async () => {
    const { clients, mandate } = await connected(h, ['everything/echo', 'everything/get-sum']);
    const client = clients.everything as Client;
    const from = await lastSeq(h);
    const asked = refused(await call(client, 'get-sum', { a: 1, b: 2 }), 'approval_required');
    const id = String(asked.data?.approval);
    assert.match(id, /^apr_/);
    assert.equal(asked.data?.url, `${h.url}/api/v1/approvals/${id}`);
    assert.deepEqual([asked.data?.approvers, asked.data?.policies], [[['group:finance']], ['sums-need-finance']]);
    assert.equal(refused(await call(client, 'get-sum', { a: 1, b: 2 }), 'approval_required').data?.approval, id, 'asking again finds the same pending approval');
    assert.equal(await call(client, 'echo', { message: 'unaffected' }), 'Echo: unaffected');

    assert.equal((await decide(h, id, 'approve', 'carol', { note: 'fine' })).status, 200);
    const changed = refused(await call(client, 'get-sum', { a: 2, b: 1 }), 'approval_required');
    assert.notEqual(changed.data?.approval, id, 'other arguments are another action');
    assert.equal(await call(client, 'get-sum', { b: 2, a: 1 }), 'The sum of 1 and 2 is 3.', 'the same arguments in another order are the same action');
    const again = refused(await call(client, 'get-sum', { a: 1, b: 2 }), 'approval_required');
    assert.notEqual(again.data?.approval, id, 'used once');

    const events = await eventsAfter(h, from);
    const decisions = events.filter((e) => e.kind === 'decision' && e.tool === 'get-sum');
    assert.deepEqual(decisions.map((e) => [e.decision, e.reason, e.approval]), [
      ['deny', 'approval_required', id], ['deny', 'approval_required', id], ['deny', 'approval_required', changed.data?.approval], ['allow', null, id], ['deny', 'approval_required', again.data?.approval],
    ]);
    assert.deepEqual(events.filter((e) => e.kind === 'approval' && e.approval === id).map((e) => e.method), ['approval/request', 'approval/approve', 'approval/use']);
    const shown = (await h.api('GET', `/api/v1/approvals/${id}`)).body as { state: string };
    assert.equal(shown.state, 'used');
    assert.equal(((await h.api('GET', `/api/v1/approvals?mandate=${mandate}`)).body.approvals as unknown[]).length, 3, 'one per action asked');
  });

  it('is not lifted by someone the policy does not name, nor by a denied or lapsed approval', async () => {
    const { clients, mandate } = await connected(h, ['everything/get-sum']);
    const client = clients.everything as Client;
    const id = String(refused(await call(client, 'get-sum', { a: 5, b: 5 }), 'approval_required').data?.approval);
    const outsider = await decide(h, id, 'approve', 'bob');
    assert.deepEqual([outsider.status, outsider.body.code], [403, 'approver_not_eligible']);
    const owner = await decide(h, id, 'approve', 'alice');
    assert.deepEqual([owner.status, owner.body.code], [403, 'approver_not_eligible'], 'the agent\'s owner is not in finance');
    assert.equal(refused(await call(client, 'get-sum', { a: 5, b: 5 }), 'approval_required').data?.approval, id);

    assert.equal((await decide(h, id, 'deny', 'carol', { note: 'not this quarter' })).status, 200);
    assert.equal((await decide(h, id, 'approve', 'carol')).status, 409, 'a denial is final');
    const quiet = refused(await call(client, 'get-sum', { a: 5, b: 5 }), 'approval_denied');
    assert.equal(quiet.data?.approval, id, 'refused at once with the denial, which is never used');
    assert.match(quiet.message ?? '', /was denied by person carol \(not this quarter\)/);
    assert.deepEqual((await h.api('GET', `/api/v1/approvals?mandate=${mandate}&state=pending`)).body.approvals, [], 'nobody is asked again');

    const lapsing = String(refused(await call(client, 'get-sum', { a: 5, b: 6 }), 'approval_required').data?.approval);
    assert.equal((await decide(h, lapsing, 'approve', 'carol')).status, 200);
    await new Promise((resolve) => setTimeout(resolve, (WINDOW_SECONDS + 1) * 1000));
    assert.notEqual(refused(await call(client, 'get-sum', { a: 5, b: 6 }), 'approval_required').data?.approval, lapsing, 'past its window');
    const anew = refused(await call(client, 'get-sum', { a: 5, b: 5 }), 'approval_required');
    assert.notEqual(anew.data?.approval, id, 'once the quiet after the denial is over, the call asks anew');
  });

  it('passes identical calls for the period approved, up to the uses approved', async () => {
    const { clients } = await connected(h, ['everything/get-sum']);
    const client = clients.everything as Client;
    const id = String(refused(await call(client, 'get-sum', { a: 3, b: 4 }), 'approval_required').data?.approval);
    assert.equal((await decide(h, id, 'approve', 'carol', { for: '10m', max_uses: 2 })).status, 200);
    assert.equal(await call(client, 'get-sum', { a: 3, b: 4 }), 'The sum of 3 and 4 is 7.');
    assert.equal(await call(client, 'get-sum', { a: 3, b: 4 }), 'The sum of 3 and 4 is 7.');
    refused(await call(client, 'get-sum', { a: 3, b: 4 }), 'approval_required');
  });
});

describe('the task flow rule', () => {
  it('asks the initiator before an external tool once confidential data was read, and lets it pass once approved', async () => {
    const { clients, mandate } = await connected(h, ['vault/echo', 'web/echo']);
    assert.equal(await call(clients.web as Client, 'echo', { message: 'before' }), 'Echo: before', 'nothing confidential read yet');
    assert.equal(await call(clients.vault as Client, 'echo', { message: 'the numbers' }), 'Echo: the numbers');
    const asked = refused(await call(clients.web as Client, 'echo', { message: 'the numbers' }), 'approval_required');
    assert.deepEqual([asked.data?.policies, asked.data?.approvers], [['confidential-then-external-needs-approval'], [['initiator']]]);
    const id = String(asked.data?.approval);
    assert.equal((await decide(h, id, 'approve', 'carol')).status, 403, 'only the initiator');
    assert.equal((await decide(h, id, 'approve', 'alice')).status, 200);
    assert.equal(await call(clients.web as Client, 'echo', { message: 'the numbers' }), 'Echo: the numbers');
    assert.equal((await h.app.store.getTaskFlow(mandate))?.maxSensitivity, 'confidential');
    assert.equal((await h.api('POST', '/api/v1/revocations', { token: tokens.alice, body: { target: mandate, reason: 'done' } })).status, 200);
    assert.equal(await h.app.store.getTaskFlow(mandate), null, 'an ended task\'s flow is forgotten');
  });
});

describe('the preview', () => {
  it('says in advance whether a call would be allowed, denied or need approval, and changes nothing', async () => {
    const { agent, tasks, mandate } = await connected(h, ['everything/echo', 'everything/get-sum']);
    const task = tasks.everything as string;
    assert.equal((await preview(h, agent, task, 'everything', { name: 'echo', arguments: { message: 'x' } })).decision, 'allow');
    const outside = await preview(h, agent, task, 'everything', { name: 'get-env' });
    assert.deepEqual([outside.decision, outside.code], ['deny', 'tool_outside_scope']);
    const before = await preview(h, agent, task, 'everything', { name: 'get-sum', arguments: { a: 7, b: 8 } });
    assert.deepEqual([before.decision, before.approvers, before.policies, before.approval], ['needs-approval', [['group:finance']], ['sums-need-finance'], null]);
    assert.deepEqual((await h.api('GET', `/api/v1/approvals?mandate=${mandate}`)).body.approvals, [], 'a preview asks nobody');
    const client = await connectToGateway(`${h.url}/mcp/everything`, task, agent.key, 'approvals');
    const id = String(refused(await call(client, 'get-sum', { a: 7, b: 8 }), 'approval_required').data?.approval);
    assert.deepEqual((await preview(h, agent, task, 'everything', { name: 'get-sum', arguments: { a: 7, b: 8 } })).approval, { id, state: 'pending', url: `${h.url}/api/v1/approvals/${id}`, page: `${h.url}/approve/${id}` });
    assert.equal((await decide(h, id, 'approve', 'carol')).status, 200);
    assert.equal(((await preview(h, agent, task, 'everything', { name: 'get-sum', arguments: { a: 7, b: 8 } })).approval as { state: string }).state, 'approved');
    assert.equal(await call(client, 'get-sum', { a: 7, b: 8 }), 'The sum of 7 and 8 is 15.', 'the preview did not use the approval');
    const deniedId = String(refused(await call(client, 'get-sum', { a: 9, b: 9 }), 'approval_required').data?.approval);
    assert.equal((await decide(h, deniedId, 'deny', 'carol')).status, 200);
    const denied = await preview(h, agent, task, 'everything', { name: 'get-sum', arguments: { a: 9, b: 9 } });
    assert.deepEqual([denied.decision, denied.code, (denied.approval as { id: string }).id], ['deny', 'approval_denied', deniedId], 'a denial standing is told in advance');
    assert.equal(refused(await call(client, 'get-sum', { a: 9, b: 9 }), 'approval_denied').data?.approval, deniedId, 'as the call then is');
    const noToken = await fetch(`${h.url}/mcp/everything/preview`, { method: 'POST', body: '{}' });
    assert.equal(noToken.status, 401);
  });
});

describe('a gateway that holds calls for the decision', () => {
  let held: Harness;
  before(async () => {
    held = await startMandate({ approvalWait: 20, approvalProgressInterval: 1 });
    await setUp(held);
  });
  after(() => held.close());

  it('tells a held call that asked for progress that it waits, so a client that resets its timeout on progress outlasts its timeout', async () => {
    const { clients, mandate } = await connected(held, ['everything/trigger-long-running-operation']);
    const client = clients.everything as Client;
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const answer = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } }, undefined, { onprogress: (p) => progress.push(p), timeout: 2500, resetTimeoutOnProgress: true });
    // Told at once and then every second: four notes are well past the client's 2.5 s timeout.
    while (progress.length < 4) await new Promise((resolve) => setTimeout(resolve, 100));
    const listed = (await held.api('GET', `/api/v1/approvals?mandate=${mandate}&state=pending`)).body.approvals as Array<{ id: string }>;
    const id = listed[0]?.id as string;
    assert.equal((await decide(held, id, 'approve', 'carol')).status, 200);
    assert.match((await answer as { content: Array<{ text: string }> }).content[0]?.text ?? '', /^Long running operation completed/);
    assert.match(progress[0]?.message ?? '', new RegExp(`^waiting for a person's decision on approval ${id} \\(${held.url}/approve/${id}\\)$`));
    assert.deepEqual(progress.map((p) => p.progress), progress.map((_p, i) => i + 1), 'progress only increases: the upstream\'s own steps come after what the hold told');
    const told = progress.length - 2;
    assert.deepEqual(progress.slice(-2).map((p) => p.total), [told + 2, told + 2], 'the upstream\'s steps, counted on from the hold');
  });

  it('answers the held call once approved, and refuses it once denied, while the session goes on', async () => {
    const { clients, mandate } = await connected(held, ['everything/echo', 'everything/get-sum']);
    const client = clients.everything as Client;
    const pendingApproval = async (): Promise<string> => {
      for (const started = Date.now(); Date.now() - started < 15_000;) {
        const listed = (await held.api('GET', `/api/v1/approvals?mandate=${mandate}&state=pending`)).body.approvals as Array<{ id: string }>;
        if (listed[0]) return listed[0].id;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('the held call asked for no approval');
    };
    const waiting = call(client, 'get-sum', { a: 10, b: 20 });
    const id = await pendingApproval();
    assert.equal(await call(client, 'echo', { message: 'meanwhile' }), 'Echo: meanwhile', 'a held call does not hold up the session');
    assert.equal((await decide(held, id, 'approve', 'carol')).status, 200);
    assert.equal(await waiting, 'The sum of 10 and 20 is 30.');

    const refusedLater = call(client, 'get-sum', { a: 1, b: 1 });
    const second = await pendingApproval();
    assert.equal((await decide(held, second, 'deny', 'carol', { note: 'no' })).status, 200);
    const answer = refused(await refusedLater, 'approval_denied');
    assert.equal(answer.data?.approval, second);

    // The agent gives up on a held call: it is dropped, never sent, and the approval stays for a later identical call.
    const from = await lastSeq(held);
    const controller = new AbortController();
    const cancelled = client.callTool({ name: 'get-sum', arguments: { a: 2, b: 2 } }, undefined, { signal: controller.signal }).then(() => 'answered', (error: Error) => `cancelled: ${error.message}`);
    const third = await pendingApproval();
    controller.abort();
    assert.match(await cancelled, /^cancelled: .*abort/i);
    assert.equal(await call(client, 'echo', { message: 'still here' }), 'Echo: still here', 'the session goes on');
    for (const started = Date.now(); Date.now() - started < 5_000;) {
      if ((await eventsAfter(held, from)).some((e) => e.kind === 'decision' && e.tool === 'get-sum')) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const decisions = (await eventsAfter(held, from)).filter((e) => e.kind === 'decision' && e.tool === 'get-sum');
    assert.deepEqual(decisions.map((e) => [e.decision, e.reason, e.approval]), [['deny', 'approval_required', third]], 'recorded as not made');
    assert.equal(((await held.api('GET', `/api/v1/approvals/${third}`)).body as { state: string }).state, 'pending');
    assert.equal((await decide(held, third, 'approve', 'carol')).status, 200);
    assert.equal(await call(client, 'get-sum', { a: 2, b: 2 }), 'The sum of 2 and 2 is 4.', 'the identical call made again uses it');
  });
});
