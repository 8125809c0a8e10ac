// When authority ends, the gateway ends what still holds it: every session bound to a
// mandate that was revoked, completed, expired by the sweep or whose token was revoked
// (RFC 7009), every session of an agent that was suspended and of the mandates it
// delegated, every session that was given a credential since removed or replaced. Each
// session's stdio upstream (a real MCP server, one process per session) is stopped
// before the change is answered, and a request still open gets the reason. Sessions
// of other mandates carry on.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, grantScenario, startMandate, subDelegate, type Harness, type Scenario } from './harness.ts';

const ENV_SERVER = new URL('./fixtures/env-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const TOOLS = ['pid', 'hold', 'env-digest'];
const FIRST_SECRET = 'first-secret-4b1d9e7a2c6f';
const SECOND_SECRET = 'second-secret-8e3a5c1f7b2d';
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

let h: Harness;

before(async () => {
  h = await startMandate();
  for (const name of ['envy', 'keyed']) {
    const added = await h.api('POST', '/api/v1/servers', { body: { name, command: process.execPath, args: [...FLAGS, ENV_SERVER, 'stdio'], tools: TOOLS.map((tool) => ({ name: tool, sensitivity: 'public', effect: 'read' })) } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
  }
});
after(() => h.close());

interface Session { scenario: Scenario; task: string; client: Client; pid: number }

async function open(server = 'envy', options: { ttl?: number; scenario?: Scenario } = {}): Promise<Session> {
  const scenario = options.scenario ?? await grantScenario(h, { allow: TOOLS.map((tool) => `${server}/${tool}`), ...(options.ttl ? { ttl: options.ttl } : {}) });
  const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/${server}` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const task = String(answer.body.access_token);
  return withClient(scenario, task, server);
}

async function withClient(scenario: Scenario, task: string, server = 'envy'): Promise<Session> {
  const client = await connectToGateway(`${h.url}/mcp/${server}`, task, scenario.key, 'session-ends');
  const pid = ((await client.callTool({ name: 'pid', arguments: {} })).structuredContent as { pid: number }).pid;
  assert.ok(running(pid));
  return { scenario, task, client, pid };
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** A tool call that stays open upstream: resolves `inFlight` once the upstream has it. */
function held(session: Session): { inFlight: Promise<void>; answer: Promise<unknown> } {
  let reached!: () => void;
  const inFlight = new Promise<void>((resolve) => { reached = resolve; });
  const answer = session.client.callTool({ name: 'hold', arguments: {} }, undefined, { onprogress: () => reached(), timeout: 600_000 }).then((r) => r, (e: unknown) => e);
  return { inFlight, answer };
}

const close = (...sessions: Session[]) => Promise.all(sessions.map((s) => s.client.close().catch(() => undefined)));

describe('a mandate that ends', () => {
  it('revoked: its session ends, its upstream process is gone before the revocation answers, an open request gets the reason; others carry on', async () => {
    const ending = await open();
    const other = await open();
    const { inFlight, answer } = held(ending);
    await inFlight;
    const revoked = await h.api('POST', '/api/v1/revocations', { token: ending.scenario.personToken, body: { target: ending.scenario.mandateId, reason: 'task cancelled' } });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(running(ending.pid), false, 'the upstream process of the revoked mandate is gone');
    const error = await answer;
    assert.ok(error instanceof Error, `the open request failed: ${JSON.stringify(error)}`);
    assert.match(error.message, new RegExp(`the session has ended: mandate ${ending.scenario.mandateId} was revoked`));
    await assert.rejects(ending.client.callTool({ name: 'pid', arguments: {} }));

    assert.equal(running(other.pid), true, 'another mandate\'s upstream runs on');
    assert.equal(((await other.client.callTool({ name: 'pid', arguments: {} })).structuredContent as { pid: number }).pid, other.pid);
    await close(ending, other);
  });

  it('completed, or its mandate token revoked (RFC 7009): the same', async () => {
    const completed = await open();
    const answer = await h.api('POST', `/api/v1/mandates/${completed.scenario.mandateId}/complete`, { token: completed.scenario.personToken, body: {} });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(running(completed.pid), false);

    const byToken = await open();
    assert.equal((await h.form('/oauth/revoke', { token: byToken.scenario.mandateToken }, { authorization: `Bearer ${h.adminToken}` })).status, 200);
    assert.equal(running(byToken.pid), false);
    await close(completed, byToken);
  });

  it('expired by the sweep: its session ends', async () => {
    const expiring = await open('envy', { ttl: 60 });
    const lasting = await open();
    const swept = await h.app.mandates.expire(nowSeconds() + 120);
    assert.deepEqual(swept, [expiring.scenario.mandateId]);
    assert.equal(running(expiring.pid), false);
    assert.equal(running(lasting.pid), true);
    await close(expiring, lasting);
  });

  it('a session opened afterwards with the old task token is refused, nothing started', async () => {
    const session = await open();
    await h.api('POST', '/api/v1/revocations', { token: session.scenario.personToken, body: { target: session.scenario.mandateId } });
    await assert.rejects(withClient(session.scenario, session.task));
    await close(session);
  });
});

describe('an agent that is suspended', () => {
  it('has its sessions ended, and those of the mandates it delegated; a reactivated agent opens new ones', async () => {
    const top = await open();
    const sub = await grantScenario(h, { allow: ['envy/pid'] });
    const delegatedAnswer = await subDelegate(h, top.scenario.key, top.task, sub.key, { scope: 'envy/pid' });
    assert.equal(delegatedAnswer.status, 200, JSON.stringify(delegatedAnswer.body));
    const child: Scenario = { ...sub, mandateId: String(delegatedAnswer.body.mandate_id), mandateToken: String(delegatedAnswer.body.access_token) };
    const below = await open('envy', { scenario: child });
    const unrelated = await open();

    assert.equal((await h.api('POST', `/api/v1/agents/${top.scenario.agentId}/suspend`)).status, 200);
    assert.equal(running(top.pid), false, 'the suspended agent\'s own upstream is gone');
    assert.equal(running(below.pid), false, 'so is the upstream of the mandate it delegated');
    assert.equal(running(unrelated.pid), true);

    assert.equal((await h.api('POST', `/api/v1/agents/${top.scenario.agentId}/activate`)).status, 200);
    const again = await open('envy', { scenario: top.scenario });
    assert.notEqual(again.pid, top.pid);
    await close(top, below, unrelated, again);
  });
});

describe('a credential that is replaced or removed', () => {
  it('ends the sessions it was injected into; the next session gets the current secret, or none', async () => {
    const added = await h.api('POST', '/api/v1/credentials', { body: { name: 'keyed-token', server: 'keyed', inject: { env: 'UPSTREAM_TOKEN' }, secret: FIRST_SECRET } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const id = String(added.body.id);
    const digest = async (session: Session) => (await session.client.callTool({ name: 'env-digest', arguments: { name: 'UPSTREAM_TOKEN' } })).structuredContent as { set: boolean; sha256: string };

    const first = await open('keyed');
    const elsewhere = await open('envy');
    assert.deepEqual(await digest(first), { set: true, sha256: sha256(FIRST_SECRET) });
    const { inFlight, answer } = held(first);
    await inFlight;
    assert.equal((await h.api('PUT', `/api/v1/credentials/${id}/secret`, { body: { secret: SECOND_SECRET } })).status, 200);
    assert.equal(running(first.pid), false, 'the upstream holding the old secret is gone');
    assert.match(String((await answer as Error).message), new RegExp(`credential ${id}, injected into its upstream, was given a new secret`));
    assert.equal(running(elsewhere.pid), true, 'a session without that credential carries on');

    const second = await open('keyed');
    assert.deepEqual(await digest(second), { set: true, sha256: sha256(SECOND_SECRET) });
    assert.equal((await h.api('DELETE', `/api/v1/credentials/${id}`)).status, 200);
    assert.equal(running(second.pid), false);

    const third = await open('keyed');
    assert.deepEqual(await digest(third), { set: false, sha256: '' });
    await close(first, elsewhere, second, third);
  });
});
