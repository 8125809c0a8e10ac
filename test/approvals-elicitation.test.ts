// The person at the MCP client, asked directly: a call a policy holds for the
// initiator's yes sends a client that takes URL-mode elicitation (MCP 2025-11-25) an
// `elicitation/create` for the approval page while the call waits. In a real browser
// (Chromium) the person opens the page, signs in, sees exactly what the agent asks and
// approves; the held call goes ahead and the client is told the elicitation is
// complete. The URL grants nothing by itself: without signing in it shows nothing of
// the call, and a person the policy does not name cannot decide there. Declining at
// the client ends the hold at once. A client that does not take URL elicitation, or a
// call its person may not decide, is not asked.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ElicitationCompleteNotificationSchema, ElicitRequestSchema, type ElicitRequest, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser } from 'playwright-core';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { launchBrowser } from './browser.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';
import { until } from './fixtures/until.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');

const POLICIES = `@id("sums-need-initiator")
@approval("initiator")
forbid (principal is Agent, action == Action::"tools/call", resource is Tool)
when { resource.server == "everything" && resource.name == "get-sum" };

@id("echo-needs-finance")
@approval("group:finance")
forbid (principal is Agent, action == Action::"tools/call", resource is Tool)
when { resource.server == "everything" && resource.name == "echo" };
`;

interface Refusal { code: number; data?: { code?: string; approval?: string; page?: string } }
interface Approval { id: string; state: string; decided_by: string | null; page: string }

let h: Harness;
let browser: Browser;
let bobToken: string;

/** An agent of alice's with a mandate for everything/get-sum and echo, and a client that may take URL elicitation. */
async function connected(harness: Harness, options: { url: boolean; answer?: (request: ElicitRequest['params']) => ElicitResult }): Promise<{ s: Scenario; client: Client; asked: Array<ElicitRequest['params']>; completed: string[] }> {
  const s = await grantScenario(harness, { allow: ['everything/get-sum', 'everything/echo'] });
  const exchanged = await exchange(harness, s, { resource: `${harness.url}/mcp/everything` });
  assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
  const asked: Array<ElicitRequest['params']> = [];
  const completed: string[] = [];
  const client = await connectToGateway(`${harness.url}/mcp/everything`, String(exchanged.body.access_token), s.key, 'elicitation-tests', {
    capabilities: options.url ? { elicitation: { url: {}, form: {} } } : {},
    prepare: (c) => {
      if (!options.url) return;
      c.setRequestHandler(ElicitRequestSchema, (request) => {
        asked.push(request.params);
        return options.answer?.(request.params) ?? { action: 'accept' };
      });
      c.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
        completed.push(n.params.elicitationId);
      });
    },
  });
  return { s, client, asked, completed };
}

async function callTool(client: Client, name: string, args: Record<string, unknown>): Promise<string | Refusal> {
  try {
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 30_000 }) as { content: Array<{ text: string }> };
    return result.content[0]?.text ?? '';
  } catch (error) {
    return error as Refusal;
  }
}

/** The steps recorded for one approval, in order: method, who acted, and the note. */
async function steps(harness: Harness, id: string): Promise<Array<[string, string, string | null]>> {
  const events = (await harness.api('GET', '/api/v1/audit/events?limit=1000')).body.events as Array<{ seq: number; kind: string; method: string; caller: string; approval?: string; note?: string }>;
  return events.filter((e) => e.kind === 'approval' && e.approval === id).sort((a, b) => a.seq - b.seq).map((e) => [e.method, e.caller, e.note ?? null]);
}

const pendingOf = async (mandateId: string, harness = h): Promise<Approval | undefined> =>
  ((await harness.api('GET', `/api/v1/approvals?mandate=${mandateId}&state=pending`)).body.approvals as Approval[])[0];

/** alice and bob (finance), the everything server, and the policies. */
async function setUp(harness: Harness): Promise<void> {
  for (const id of ['alice', 'bob']) assert.equal((await harness.api('POST', '/api/v1/users', { body: { id } })).status, 201);
  bobToken = String((await harness.api('POST', '/api/v1/users/bob/login')).body.token);
  assert.equal((await harness.api('POST', '/api/v1/groups', { body: { name: 'finance', members: ['bob'] } })).status, 201);
  const tools = [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }, { name: 'get-sum', sensitivity: 'public', effect: 'read', egress: 'internal' }];
  assert.equal((await harness.api('POST', '/api/v1/servers', { body: { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools } })).status, 201);
  assert.equal((await harness.api('PUT', '/api/v1/policies/approvals.cedar', { body: { text: POLICIES } })).status, 200);
}

before(async () => {
  h = await startMandate({ approvalWait: 20 });
  await setUp(h);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await h.close();
});

describe('URL-mode elicitation of an approval', () => {
  it('asks the person at the client; they sign in on the page, approve, and the held call goes ahead', async () => {
    const { s, client, asked, completed } = await connected(h, { url: true });
    const held = callTool(client, 'get-sum', { a: 20, b: 22 });
    const elicitation = await until('the elicitation', () => asked[0]);
    const approval = await until('the pending approval', () => pendingOf(s.mandateId));
    assert.equal(elicitation.mode, 'url');
    const { url, elicitationId, message } = elicitation as { url: string; elicitationId: string; message: string };
    assert.equal(url, `${h.url}/approve/${approval.id}`, 'the URL names the approval and nothing else');
    assert.equal(url, approval.page);
    assert.match(message, /everything\/get-sum/);
    assert.ok(elicitationId.length >= 16);

    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    assert.equal(await page.locator('#preview').count(), 0, 'nothing of the call is shown before signing in');
    await page.fill('input[name=token]', s.personToken);
    await page.click('button[type=submit]');
    assert.match(await page.locator('h1').innerText(), /Approve everything\/get-sum\?/);
    assert.deepEqual(JSON.parse(await page.locator('#preview').innerText()), { a: 20, b: 22 });
    assert.equal(await page.locator('#purpose').innerText(), 'test task', 'the task the mandate was granted for');
    assert.equal(await page.locator('.state').getAttribute('data-state'), 'pending');
    await page.click('button[value=approve]');
    assert.match(await page.locator('.state').getAttribute('data-state') ?? '', /^(approved|used)$/);

    assert.equal(await held, 'The sum of 20 and 22 is 42.');
    assert.deepEqual(completed, [elicitationId], 'the client is told the elicitation is complete');
    const decided = (await h.api('GET', `/api/v1/approvals/${approval.id}`)).body as unknown as Approval;
    assert.deepEqual([decided.state, decided.decided_by], ['used', 'person alice']);
    assert.deepEqual((await steps(h, approval.id)).map(([method, caller, note]) => [method, caller, note?.replace(/ \(.*\)$/, '') ?? null]), [
      ['approval/request', `agent ${s.spiffeId}`, null],
      ['approval/notify', 'system', 'elicitation: the approval page was sent to the agent\'s MCP client'],
      ['approval/notify', `agent ${s.spiffeId}`, 'elicitation: the MCP client answered accept'],
      ['approval/approve', 'person alice', null],
      ['approval/use', `agent ${s.spiffeId}`, 'use 1 of 1'],
    ]);
    await page.context().close();
    await client.close();
  });

  it('lets no one else decide through the page: the URL alone shows nothing, and only whom the policy names may decide', async () => {
    const { s: scenario, client, asked } = await connected(h, { url: true });
    const held = callTool(client, 'get-sum', { a: 1, b: 1 });
    const { url } = await until('the elicitation', () => asked[0]) as { url: string };

    const anonymous = await fetch(url);
    const text = await anonymous.text();
    assert.equal(anonymous.status, 200);
    assert.match(text, /Sign in to decide/);
    assert.doesNotMatch(text, /get-sum|preview/, 'the bare URL tells nothing of the call');
    assert.equal(anonymous.headers.get('x-frame-options'), 'DENY');
    assert.match(anonymous.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);

    // bob (finance) is sent alice's link: he is not named, so he sees nothing of it.
    const bob = await (await browser.newContext()).newPage();
    await bob.goto(url);
    await bob.fill('input[name=token]', bobToken);
    await bob.click('button[type=submit]');
    assert.match(await bob.locator('[role=alert]').innerText(), /no approval apr_\S+ that bob may see/);
    assert.equal(await bob.locator('#preview').count(), 0);
    const approval = await pendingOf(scenario.mandateId);
    assert.equal(approval?.state, 'pending', 'still undecided');
    assert.equal((await h.api('POST', `/api/v1/approvals/${approval?.id}/deny`, { body: { note: 'not today' } })).status, 200);
    assert.equal((await held as Refusal).data?.code, 'approval_denied');

    // echo needs finance: alice, who started the task, is not asked, sees it but may not decide it; bob may.
    const waiting = callTool(client, 'echo', { message: 'for finance' });
    const second = await until('the pending approval', () => pendingOf(scenario.mandateId));
    const alice = await (await browser.newContext()).newPage();
    await alice.goto(second.page);
    await alice.fill('input[name=token]', scenario.personToken);
    await alice.click('button[type=submit]');
    assert.equal(JSON.parse(await alice.locator('#preview').innerText()).message, 'for finance');
    await alice.click('button[value=approve]');
    assert.match(await alice.locator('[role=alert]').innerText(), /alice may not decide/);
    assert.equal(await alice.locator('.state').getAttribute('data-state'), 'pending');
    // bob finds it among the approvals waiting for him, the one he may decide, and decides it from there.
    await bob.goto(`${h.url}/approve`);
    assert.deepEqual(await bob.locator('#waiting tbody tr td:first-child').allInnerTexts(), ['everything/echo']);
    await bob.click('#waiting a');
    assert.equal(bob.url(), second.page);
    await bob.click('button[value=approve]');
    assert.equal(await waiting, 'Echo: for finance');
    assert.equal(asked.length, 1, 'alice was not asked about a call only finance may decide');
    await bob.context().close();
    await alice.context().close();
    await client.close();
  });

  it('ends the hold at once when the person declines at the client, leaving the approval to decide', async () => {
    const { s, client, asked } = await connected(h, { url: true, answer: () => ({ action: 'decline' }) });
    const answer = await callTool(client, 'get-sum', { a: 2, b: 3 }) as Refusal;
    assert.equal(asked.length, 1);
    assert.equal(answer.code, -32003);
    assert.equal(answer.data?.code, 'approval_required');
    const approval = await pendingOf(s.mandateId);
    assert.equal(approval?.id, answer.data?.approval, 'the refusal names the approval, still pending');
    assert.equal(answer.data?.page, approval?.page);
    assert.deepEqual((await steps(h, String(approval?.id))).map(([method, caller]) => [method, caller]).slice(-1), [['approval/notify', `agent ${s.spiffeId}`]]);
    assert.match((await steps(h, String(approval?.id))).at(-1)?.[2] ?? '', /answered decline/);
    await client.close();
  });

  it('asks no one directly when the client does not take URL elicitation', async () => {
    const plain = await connected(h, { url: false });
    const held = callTool(plain.client, 'get-sum', { a: 3, b: 4 });
    const approval = await until('the pending approval', () => pendingOf(plain.s.mandateId));
    assert.equal((await h.api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: plain.s.personToken, body: {} })).status, 200);
    assert.equal(await held, 'The sum of 3 and 4 is 7.', 'held and answered as before');
    await plain.client.close();
  });

  it('takes decisions only from its own pages, and shows what the agent sent as text', async () => {
    const { s: scenario, client } = await connected(h, { url: false });
    const sneaky = '<script>document.title="owned"</script><img src=x onerror=alert(1)>';
    const held = callTool(client, 'echo', { message: sneaky });
    const approval = await until('the pending approval', () => pendingOf(scenario.mandateId));
    const signIn = await fetch(`${h.url}/approve/${approval.id}/sign-in`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ token: bobToken }) });
    assert.equal(signIn.status, 303);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] as string;
    assert.match(signIn.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    const shown = await (await fetch(approval.page, { headers: { cookie } })).text();
    assert.ok(shown.includes('&lt;script&gt;document.title=') && shown.includes('&lt;img src=x onerror=alert(1)&gt;'), 'the arguments are escaped');
    assert.ok(!shown.includes('<script>') && !shown.includes('<img'), 'no markup of the agent\'s reaches the page');
    const csrf = /name="csrf" value="([^"]+)"/.exec(shown)?.[1] as string;

    const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
      fetch(`${h.url}/approve/${approval.id}/decide`, { method: 'POST', redirect: 'manual', headers: { cookie, ...headers }, body: new URLSearchParams(form) });
    const foreign = await post({ csrf, decision: 'approve' }, { origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    assert.match(await foreign.text(), /a form from http:\/\/evil.example may not decide here/);
    const forged = await post({ csrf: 'x'.repeat(csrf.length), decision: 'approve' });
    assert.equal(forged.status, 403);
    assert.match(await forged.text(), /not made for your sign-in/);
    const noCookie = await fetch(`${h.url}/approve/${approval.id}/decide`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ csrf, decision: 'approve' }) });
    assert.equal(noCookie.status, 401);
    assert.equal((await pendingOf(scenario.mandateId))?.id, approval.id, 'none of them decided anything');

    const page = await (await browser.newContext()).newPage();
    await page.goto(approval.page);
    await page.fill('input[name=token]', bobToken);
    await page.click('button[type=submit]');
    assert.equal(JSON.parse(await page.locator('#preview').innerText()).message, sneaky, 'shown as the text it is');
    assert.notEqual(await page.title(), 'owned');
    await page.fill('textarea[name=note]', 'looks fine');
    await page.click('button[value=approve]');
    assert.match(await held as string, /^Echo: <script>/);
    const decided = (await h.api('GET', `/api/v1/approvals/${approval.id}`)).body as unknown as Approval & { note: string };
    assert.deepEqual([decided.decided_by, decided.note], ['person bob', 'looks fine']);
    await page.context().close();
    await client.close();
  });
});

describe('URL-mode elicitation when calls are not held (MANDATE_APPROVAL_WAIT=0)', () => {
  let now: Harness;
  before(async () => {
    now = await startMandate({ approvalWait: 0 });
    await setUp(now);
  });
  after(() => now.close());

  it('answers URLElicitationRequiredError naming the page, tells the client once decided, and the call then passes', async () => {
    const { s: scenario, client, asked, completed } = await connected(now, { url: true });
    const answer = await callTool(client, 'get-sum', { a: 5, b: 8 }) as Refusal & { data: { elicitations?: Array<{ mode: string; elicitationId: string; url: string; message: string }> } };
    assert.equal(answer.code, -32042);
    const approval = await pendingOf(scenario.mandateId, now);
    assert.ok(approval);
    const [elicitation, ...more] = answer.data.elicitations ?? [];
    assert.equal(more.length, 0);
    assert.deepEqual([elicitation?.mode, elicitation?.url], ['url', approval.page]);
    assert.match((answer as unknown as Error).message, new RegExp(`approval ${approval.id} is waiting at ${approval.page}`));
    assert.equal(asked.length, 0, 'nothing held, nothing sent as a request');
    const again = await callTool(client, 'get-sum', { a: 5, b: 8 }) as typeof answer;
    assert.equal(again.data.elicitations?.[0]?.elicitationId, elicitation?.elicitationId, 'the same approval, the same elicitation');

    assert.equal((await now.api('POST', `/api/v1/approvals/${approval.id}/approve`, { token: scenario.personToken, body: {} })).status, 200);
    await until('the completion notification', () => completed[0]);
    assert.deepEqual(completed, [elicitation?.elicitationId]);
    assert.equal(await callTool(client, 'get-sum', { a: 5, b: 8 }), 'The sum of 5 and 8 is 13.');

    // Without URL elicitation, the same refusal is the gateway's own error naming the page.
    const plain = await connected(now, { url: false });
    const refused = await callTool(plain.client, 'get-sum', { a: 1, b: 2 }) as Refusal;
    assert.deepEqual([refused.code, refused.data?.code], [-32003, 'approval_required']);
    assert.match(String(refused.data?.page), /\/approve\/apr_/);
    await plain.client.close();
    await client.close();
  });
});
