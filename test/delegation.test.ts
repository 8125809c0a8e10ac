// Delegation chains end to end, with the real MCP SDK client through the gateway:
// a person grants agent A a mandate; A sub-delegates to B, B to C, C to D (RFC 8693
// token exchange with the sub-agent's own assertion as actor_token); each calls a
// tool of a real MCP server with its own DPoP-bound task token whose nested `act`
// carries the whole chain, which the policies see. Each hop only narrows: widening
// the scope, outliving the parent, going too deep and looping are refused and
// audited. Revoking the root ends every mandate below it on the next call; so does
// deactivating the person.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clientAssertion, dpopProof, generateAgentKey, writeAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { decodeJws } from '../src/identity/jws.ts';
import { expectOAuthError, startMandate, subDelegate, type Harness } from './harness.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

interface Agent { id: string; spiffeId: string; key: AgentKey; name: string }
interface Event { seq: number; kind: string; decision: string | null; reason: string | null; agents: string[]; mandate: string | null; method: string | null; request?: { context: Record<string, unknown> } | null; mandates?: string[] | null; caller?: string | null }

let h: Harness;
let personToken: string;
const agents: Record<string, Agent> = {};

before(async () => {
  h = await startMandate();
  await h.api('POST', '/api/v1/users', { body: { id: 'alice' } });
  await h.api('POST', '/api/v1/users', { body: { id: 'bob' } });
  personToken = String((await h.api('POST', '/api/v1/users/alice/login')).body.token);
  const added = await h.api('POST', '/api/v1/servers', { body: { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools: [{ name: 'echo', sensitivity: 'public', effect: 'read' }, { name: 'get-sum', sensitivity: 'public', effect: 'read' }] } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  for (const [name, owner] of [['a', 'alice'], ['b', 'alice'], ['c', 'alice'], ['d', 'alice'], ['e', 'alice'], ['stranger', 'bob']] as const) agents[name] = await enrolled(`${name}-${Math.random().toString(36).slice(2, 6)}`, owner);
});
after(() => h.close());

async function enrolled(name: string, owner: string): Promise<Agent> {
  const added = await h.api('POST', '/api/v1/agents', { body: { name, owner, purpose: 'delegation tests' } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const agent = added.body.agent as { id: string; spiffe_id: string };
  const key = generateAgentKey();
  const enrolledAnswer = await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: key.publicJwk } });
  assert.equal(enrolledAnswer.status, 200, JSON.stringify(enrolledAnswer.body));
  key.clientId = agent.spiffe_id;
  return { id: agent.id, spiffeId: agent.spiffe_id, key, name };
}

const tokenUrl = (): string => `${h.url}/oauth/token`;
const resource = (): string => `${h.url}/mcp/everything`;

async function grant(agent: Agent, allow = ['everything/echo', 'everything/get-sum'], ttl = 600): Promise<{ id: string; token: string }> {
  const granted = await h.api('POST', '/api/v1/mandates', { token: personToken, body: { agent: agent.id, purpose: 'quarterly report', allow, ttl } });
  assert.equal(granted.status, 201, JSON.stringify(granted.body));
  return { id: String((granted.body.mandate as { id: string }).id), token: String(granted.body.mandate_token) };
}

/** The agent trades a mandate token for its task token at the gateway resource. */
async function taskToken(agent: Agent, mandateToken: string): Promise<string> {
  const answer = await h.form('/oauth/token', {
    grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: mandateToken, subject_token_type: TOKEN_TYPE_JWT, resource: resource(),
    client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(agent.key, tokenUrl()),
  }, { dpop: dpopProof(agent.key, 'POST', tokenUrl()) });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return String(answer.body.access_token);
}

/** `from` sub-delegates (with its task token) to `to`; answers the token endpoint's reply. */
const delegate = (from: Agent, fromTaskToken: string, to: Agent, extra: Record<string, string> = {}) => subDelegate(h, from.key, fromTaskToken, to.key, extra);

async function delegated(from: Agent, fromTaskToken: string, to: Agent, extra: Record<string, string> = {}): Promise<{ mandateId: string; task: string }> {
  const answer = await delegate(from, fromTaskToken, to, extra);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.issued_token_type, TOKEN_TYPE_JWT);
  assert.equal(answer.body.token_type, 'N_A');
  return { mandateId: String(answer.body.mandate_id), task: await taskToken(to, String(answer.body.access_token)) };
}

const eventsAfter = async (seq: number): Promise<Event[]> => (await h.api('GET', `/api/v1/audit/events?after=${seq}&limit=1000`)).body.events as Event[];
const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;

async function callEcho(agent: Agent, task: string, message: string): Promise<string> {
  const client = await connectToGateway(resource(), task, agent.key, 'delegation');
  try {
    const result = await client.callTool({ name: 'echo', arguments: { message } }) as { content: Array<{ text: string }> };
    return result.content[0]?.text ?? '';
  } finally {
    await client.close();
  }
}

/** `mandate <args>` as its own process, as the person alice against this server. */
function cli(args: string[]): Promise<CliRun> {
  return runMandate(args, { PATH: process.env.PATH, HOME: process.env.HOME, MANDATE_URL: h.url, MANDATE_TOKEN: personToken });
}

/** What the gateway answers a token at initialize: 200, or the refusal's mandate_error. */
async function gatewayStanding(agent: Agent, task: string): Promise<string> {
  const response = await fetch(resource(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `DPoP ${task}`, dpop: dpopProof(agent.key, 'POST', resource(), task) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });
  if (response.status === 200) {
    await response.body?.cancel();
    return 'ok';
  }
  return String(((await response.json()) as { mandate_error?: string }).mandate_error);
}

describe('a delegation chain, person → A → B → C → D', () => {
  let root: { id: string; token: string };
  const task: Record<string, string> = {};
  const mandates: Record<string, string> = {};

  it('works end to end: each agent calls with its own token, the nested act names the chain, the policies see it', async () => {
    const from = await lastSeq();
    root = await grant(agents.a as Agent);
    task.a = await taskToken(agents.a as Agent, root.token);
    ({ mandateId: mandates.b, task: task.b } = await delegated(agents.a as Agent, task.a, agents.b as Agent, { scope: 'everything/echo' }) as { mandateId: string; task: string });
    ({ mandateId: mandates.c, task: task.c } = await delegated(agents.b as Agent, task.b as string, agents.c as Agent, { requested_ttl: '300' }) as { mandateId: string; task: string });
    ({ mandateId: mandates.d, task: task.d } = await delegated(agents.c as Agent, task.c as string, agents.d as Agent) as { mandateId: string; task: string });

    const act = decodeJws(task.d as string, ['ES256']).payload.act;
    assert.deepEqual(act, { sub: agents.d?.spiffeId, act: { sub: agents.c?.spiffeId, act: { sub: agents.b?.spiffeId, act: { sub: agents.a?.spiffeId } } } }, 'current actor outermost');
    assert.equal(decodeJws(task.d as string, ['ES256']).payload.scope, 'everything/echo', 'the narrowed scope carries down');
    const shown = (await h.api('GET', `/api/v1/mandates/${mandates.d}`)).body as { parent_id?: string; depth?: number };
    assert.equal(shown.parent_id, mandates.c);
    assert.equal(shown.depth, 3);

    assert.equal(await callEcho(agents.d as Agent, task.d as string, 'from the end of the chain'), 'Echo: from the end of the chain');
    const events = await eventsAfter(from);
    const decision = events.find((e) => e.kind === 'decision' && e.mandate === mandates.d) as Event;
    assert.deepEqual(decision.agents, [agents.d, agents.c, agents.b, agents.a].map((a) => a?.spiffeId));
    assert.equal(decision.decision, 'allow');
    assert.equal(decision.request?.context.depth, 3, 'policies see the depth');
    assert.equal(decision.request?.context.delegator, agents.c?.spiffeId, 'and who delegated to the current actor');
    const delegations = events.filter((e) => e.kind === 'token' && e.method === 'mandate/delegate');
    assert.deepEqual(delegations.map((e) => [e.decision, e.mandate, e.agents[0], e.agents[1]]), [
      ['allow', mandates.b, agents.b?.spiffeId, agents.a?.spiffeId], ['allow', mandates.c, agents.c?.spiffeId, agents.b?.spiffeId], ['allow', mandates.d, agents.d?.spiffeId, agents.c?.spiffeId],
    ]);
  });

  it('refuses a hop that would widen the scope, outlive its parent, go too deep, loop, or go to a stranger — each audited', async () => {
    const from = await lastSeq();
    expectOAuthError(await delegate(agents.b as Agent, task.b as string, agents.e as Agent, { scope: 'everything/get-sum' }), 'invalid_scope', 'scope_exceeds_parent');
    expectOAuthError(await delegate(agents.c as Agent, task.c as string, agents.e as Agent, { requested_ttl: '3600' }), 'invalid_grant', 'expiry_beyond_parent');
    expectOAuthError(await delegate(agents.d as Agent, task.d as string, agents.e as Agent), 'invalid_grant', 'delegation_too_deep');
    expectOAuthError(await delegate(agents.c as Agent, task.c as string, agents.a as Agent), 'invalid_grant', 'delegation_loop');
    expectOAuthError(await delegate(agents.b as Agent, task.b as string, agents.stranger as Agent), 'invalid_grant', 'delegation_denied');
    // Only the holder of the task token, with the key it is bound to, may delegate with it.
    const stolen = await h.form('/oauth/token', {
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: task.b as string, subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
      actor_token: clientAssertion((agents.e as Agent).key, tokenUrl()), actor_token_type: TOKEN_TYPE_JWT,
      client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion((agents.c as Agent).key, tokenUrl()),
    }, { dpop: dpopProof((agents.c as Agent).key, 'POST', tokenUrl()) });
    expectOAuthError(stolen, 'invalid_grant', 'subject_not_client');
    const refused = (await eventsAfter(from)).filter((e) => e.kind === 'token');
    assert.deepEqual(refused.map((e) => [e.decision, e.reason]), [
      ['deny', 'scope_exceeds_parent'], ['deny', 'expiry_beyond_parent'], ['deny', 'delegation_too_deep'], ['deny', 'delegation_loop'], ['deny', 'delegation_denied'], ['deny', 'subject_not_client'],
    ]);
    assert.equal(refused[0]?.mandate, mandates.b, 'a refusal names the mandate it was asked under');
  });

  it('ends every mandate below the root when the root is revoked, on the very next call', async () => {
    for (const name of ['a', 'b', 'c', 'd']) assert.equal(await gatewayStanding(agents[name] as Agent, task[name] as string), 'ok', name);
    const from = await lastSeq();
    const revoked = await h.api('POST', '/api/v1/revocations', { token: personToken, body: { target: root.id, reason: 'task cancelled' } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.deepEqual(revoked.body.revoked, [root.id, mandates.b, mandates.c, mandates.d]);
    for (const name of ['a', 'b', 'c', 'd']) assert.equal(await gatewayStanding(agents[name] as Agent, task[name] as string), 'mandate_revoked', name);
    const shown = (await h.api('GET', `/api/v1/mandates/${mandates.d}`)).body as { state: string; reason: string };
    assert.deepEqual([shown.state, shown.reason], ['revoked', 'task cancelled']);
    const recorded = (await eventsAfter(from)).find((e) => e.kind === 'revocation') as Event;
    assert.deepEqual(recorded.mandates, [root.id, mandates.b, mandates.c, mandates.d]);
    assert.equal(recorded.caller, 'person alice');
    assert.equal(recorded.reason, 'task cancelled');
  });

  it('stops a child while the agent that delegated to it is suspended, and lets it go on once reactivated', async () => {
    const top = await grant(agents.a as Agent);
    const topTask = await taskToken(agents.a as Agent, top.token);
    const { task: childTask } = await delegated(agents.a as Agent, topTask, agents.b as Agent);
    assert.equal((await h.api('POST', `/api/v1/agents/${agents.a?.id}/suspend`)).status, 200);
    assert.equal(await gatewayStanding(agents.b as Agent, childTask), 'delegator_inactive');
    assert.equal((await h.api('POST', `/api/v1/agents/${agents.a?.id}/activate`)).status, 200);
    assert.equal(await gatewayStanding(agents.b as Agent, childTask), 'ok');
  });

  it('spends a child\'s calls from its parent\'s budget too: two children cannot spend more than the parent had', async () => {
    const granted = await h.api('POST', '/api/v1/mandates', { token: personToken, body: { agent: agents.a?.id, purpose: 'three calls', allow: ['everything/echo'], ttl: 600, max_calls: 3 } });
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    const topTask = await taskToken(agents.a as Agent, String(granted.body.mandate_token));
    const first = await delegated(agents.a as Agent, topTask, agents.b as Agent, { max_calls: '2' });
    const second = await delegated(agents.a as Agent, topTask, agents.c as Agent, { max_calls: '2' });
    expectOAuthError(await delegate(agents.a as Agent, topTask, agents.d as Agent, { max_calls: '4' }), 'invalid_grant', 'budget_beyond_parent');
    assert.equal(await callEcho(agents.b as Agent, first.task, 'one'), 'Echo: one');
    assert.equal(await callEcho(agents.b as Agent, first.task, 'two'), 'Echo: two');
    assert.equal(await callEcho(agents.c as Agent, second.task, 'three'), 'Echo: three');
    const top = (await h.api('GET', `/api/v1/mandates/${String((granted.body.mandate as { id: string }).id)}`)).body as { calls_used: number };
    assert.equal(top.calls_used, 3, 'the children spent the parent\'s calls');
    assert.equal(await gatewayStanding(agents.c as Agent, second.task), 'parent_mandate_exhausted', 'the second child has a call left of its own, but its parent has none');
    await assert.rejects(callEcho(agents.a as Agent, topTask, 'four'), /mandate_exhausted|used all its calls/);
  });

  it('revokes every mandate a person granted, and all delegated below, when the person is deactivated', async () => {
    const top = await grant(agents.a as Agent);
    const topTask = await taskToken(agents.a as Agent, top.token);
    const { mandateId, task: childTask } = await delegated(agents.a as Agent, topTask, agents.c as Agent);
    assert.equal((await h.api('POST', '/api/v1/users/alice/deactivate')).status, 200);
    for (const id of [top.id, mandateId]) {
      const shown = (await h.api('GET', `/api/v1/mandates/${id}`)).body as { state: string; reason: string };
      assert.deepEqual([shown.state, shown.reason], ['revoked', 'grantor deactivated'], id);
    }
    assert.equal(await gatewayStanding(agents.c as Agent, childTask), 'mandate_revoked');
    assert.equal((await h.api('POST', '/api/v1/users/alice/activate')).status, 200);
    assert.equal(await gatewayStanding(agents.c as Agent, childTask), 'mandate_revoked', 'reactivating the person does not bring revoked mandates back');
  });
});

describe('from the command line', () => {
  it('mandate delegate hands a narrowed child to another agent, which trades it with mandate token and calls; mandate revoke ends both', async () => {
    personToken = String((await h.api('POST', '/api/v1/users/alice/login')).body.token);
    const work = await mkdtemp(join(tmpdir(), 'mandate-delegate-'));
    try {
      const [aKey, bKey] = [join(work, 'a.key'), join(work, 'b.key')];
      await writeAgentKey(aKey, (agents.a as Agent).key);
      await writeAgentKey(bKey, (agents.b as Agent).key);
      const top = await grant(agents.a as Agent);
      const topTask = await taskToken(agents.a as Agent, top.token);
      const refused = await cli(['delegate', '--task-token', topTask, '--key-file', aKey, '--actor-key-file', bKey, '--scope', 'everything/echo', '--ttl', '2h']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /outlive its parent.*\(expiry_beyond_parent\)/);
      const run = await cli(['delegate', '--task-token', topTask, '--key-file', aKey, '--actor-key-file', bKey, '--scope', 'everything/echo', '--ttl', '5m', '--max-calls', '2', '--purpose', 'summarise one file', '--json']);
      assert.equal(run.code, 0, run.stderr);
      const child = JSON.parse(run.stdout) as { access_token: string; mandate_id: string; scope: string };
      assert.equal(child.scope, 'everything/echo');
      const shown = (await h.api('GET', `/api/v1/mandates/${child.mandate_id}`)).body as { parent_id: string; depth: number; purpose: string; max_calls: number };
      assert.deepEqual([shown.parent_id, shown.depth, shown.purpose, shown.max_calls], [top.id, 1, 'summarise one file', 2]);
      const traded = await cli(['token', '--mandate-token', child.access_token, '--key-file', bKey]);
      assert.equal(traded.code, 0, traded.stderr);
      const childTask = traded.stdout.trim();
      assert.equal(await callEcho(agents.b as Agent, childTask, 'from the CLI'), 'Echo: from the CLI');
      const revoked = await cli(['revoke', top.id, '--reason', 'done early', '--json']);
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.deepEqual((JSON.parse(revoked.stdout) as { revoked: string[] }).revoked, [top.id, child.mandate_id]);
      assert.equal(await gatewayStanding(agents.b as Agent, childTask), 'mandate_revoked');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('ends recorded whatever path they take', () => {
  it('RFC 7009 revocation of a mandate token, and retiring an agent, end everything below and are audited', async () => {
    personToken = String((await h.api('POST', '/api/v1/users/alice/login')).body.token);
    const byToken = await grant(agents.b as Agent);
    const { mandateId: belowToken } = await delegated(agents.b as Agent, await taskToken(agents.b as Agent, byToken.token), agents.c as Agent);
    const retiring = await grant(agents.e as Agent);
    const { mandateId: belowRetired } = await delegated(agents.e as Agent, await taskToken(agents.e as Agent, retiring.token), agents.d as Agent);
    const from = await lastSeq();
    assert.equal((await h.form('/oauth/revoke', { token: byToken.token }, { authorization: `Bearer ${h.adminToken}` })).status, 200);
    assert.equal((await h.api('POST', `/api/v1/agents/${agents.e?.id}/retire`)).status, 200);
    for (const id of [byToken.id, belowToken, retiring.id, belowRetired]) assert.equal(((await h.api('GET', `/api/v1/mandates/${id}`)).body as { state: string }).state, 'revoked', id);
    const recorded = (await eventsAfter(from)).filter((e) => e.kind === 'revocation');
    assert.deepEqual(recorded.map((e) => [e.reason, e.caller, e.mandates]), [
      ['token revoked', 'admin', [byToken.id, belowToken]], ['agent retired', 'admin', [retiring.id, belowRetired]],
    ]);
  });
});

describe('the kill switch and server revocation', () => {
  it('revokes every mandate on a server, or every mandate of all (admin only)', async () => {
    personToken = String((await h.api('POST', '/api/v1/users/alice/login')).body.token);
    const one = await grant(agents.a as Agent);
    const two = await grant(agents.b as Agent);
    const asPerson = await h.api('POST', '/api/v1/revocations', { token: personToken, body: { all: true } });
    assert.equal(asPerson.status, 403);
    assert.equal((await h.api('POST', '/api/v1/revocations', { body: { all: true, server: 'everything' } })).status, 400, 'one of target, server, all');
    const byServer = await h.api('POST', '/api/v1/revocations', { body: { server: 'everything', reason: 'server compromised' } });
    assert.equal(byServer.status, 200, JSON.stringify(byServer.body));
    assert.deepEqual([...(byServer.body.revoked as string[])].sort(), [one.id, two.id].sort());
    const three = await grant(agents.c as Agent);
    const all = await h.api('POST', '/api/v1/revocations', { body: { all: true, reason: 'incident' } });
    assert.deepEqual([all.body.kind, all.body.revoked], ['all', [three.id]]);
    const active = (await h.api('GET', '/api/v1/mandates?state=active')).body.mandates as unknown[];
    assert.deepEqual(active, []);
  });
});
