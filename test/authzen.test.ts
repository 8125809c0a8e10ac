// Mandate as an OpenID AuthZEN 1.0 decision point, over real HTTP, as another
// enforcement point sees it: discovery, single and batched evaluations (defaults,
// overrides, the three evaluations semantics) decided by the active policy set —
// Mandate's defaults, then a policy directory of our own — with the explanation in
// each decision's context, every evaluation in the audit log, and authentication and
// malformed requests refused without anything being decided or recorded.
import assert from 'node:assert/strict';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_EVALUATIONS } from '../src/api/authzen.ts';
import { exchange, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

let h: Harness;
let s: Scenario;

before(async () => {
  h = await startMandate();
  s = await grantScenario(h);
});
after(() => h.close());

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

interface DecisionBody {
  decision: boolean;
  context: { reason_admin: { en: string }; policies: string[]; policy_set_hash: string; errors?: string[]; error?: { status: number; message: string }; reason?: string };
}

async function post(harness: Harness, path: string, body: unknown, init: { token?: string | null; headers?: Record<string, string>; raw?: string } = {}): Promise<Answer> {
  const token = init.token === undefined ? harness.adminToken : init.token;
  const response = await fetch(`${harness.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...init.headers },
    body: init.raw ?? JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const evaluation = (body: unknown, init?: Parameters<typeof post>[3]) => post(h, '/access/v1/evaluation', body, init);
const evaluations = (body: unknown, init?: Parameters<typeof post>[3]) => post(h, '/access/v1/evaluations', body, init);

type Event = Record<string, unknown> & { seq: number };
const lastSeq = async (harness = h): Promise<number> => ((await harness.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number, harness = h): Promise<Event[]> => (await harness.api('GET', `/api/v1/audit/events?after=${seq}&limit=200`)).body.events as Event[];

// The questions Mandate itself asks, put by another enforcement point. Attributes are the
// PEP's to supply (AuthZEN is stateless): here they are what the store holds.
const alice = { type: 'Person', id: 'alice', properties: { status: 'active' } };
const grant = { name: 'mandate/grant' };
const agentOf = (id: string, owner: string, status = 'active') => ({
  type: 'Agent', id, properties: { owner: { __entity: { type: 'Person', id: owner } }, environment: 'dev', status },
});
const grantContext = { purpose: 'summarize Q3 for the board', scope: ['fs/read_file'], ttl: 900 };

const readFile = (overrides: Record<string, unknown> = {}) => ({
  type: 'Tool', id: 'fs/read_file',
  properties: { server: 'fs', name: 'read_file', sensitivity: 'internal', effect: 'read', egress: 'internal', first_seen: 1_000, __parents: [{ type: 'Server', id: 'fs' }], ...overrides },
});
const callContext = (call = 'fs/read_file') => ({
  mandate: 'mnd_example', purpose: 'test task', scope: ['fs/read_file'], call, kind_wildcard: call, server_wildcard: 'fs/*', granted_at: 2_000, server_environment: '',
});

describe('discovery', () => {
  it('publishes the PDP metadata: exactly the endpoints Mandate answers, without authentication', async () => {
    const response = await fetch(`${h.url}/.well-known/authzen-configuration`);
    assert.equal(response.status, 200);
    assert.match(String(response.headers.get('content-type')), /^application\/json/);
    assert.match(String(response.headers.get('cache-control')), /max-age=/);
    assert.deepEqual(await response.json(), {
      policy_decision_point: h.url,
      access_evaluation_endpoint: `${h.url}/access/v1/evaluation`,
      access_evaluations_endpoint: `${h.url}/access/v1/evaluations`,
    });
  });

  it('documents the endpoints in the OpenAPI document', async () => {
    const doc = (await h.api('GET', '/api/v1/openapi.json', { token: null })).body as { paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>> };
    assert.ok(doc.paths['/access/v1/evaluation']?.post?.requestBody);
    assert.ok(doc.paths['/access/v1/evaluations']?.post?.requestBody);
    assert.deepEqual(doc.paths['/.well-known/authzen-configuration']?.get?.security, []);
  });
});

describe('access evaluation with Mandate\'s default policies', () => {
  it('permits, naming the policy and the policy set, and echoes X-Request-ID', async () => {
    const answer = await evaluation({ subject: alice, action: grant, resource: agentOf(s.agentId, 'alice'), context: grantContext }, { headers: { 'x-request-id': 'pep-7f3a' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-request-id'), 'pep-7f3a');
    assert.deepEqual(answer.body, {
      decision: true,
      context: { reason_admin: { en: 'permitted by owner-may-grant' }, policies: ['owner-may-grant'], policy_set_hash: h.app.policy().hash },
    });
  });

  it('denies with 200 and the reason: no policy permits, or the forbid that decided', async () => {
    const notOwner = (await evaluation({ subject: alice, action: grant, resource: agentOf('agt_someone_elses', 'bob'), context: grantContext })).body as unknown as DecisionBody;
    assert.equal(notOwner.decision, false);
    assert.deepEqual(notOwner.context.policies, []);
    assert.equal(notOwner.context.reason_admin.en, 'denied: no policy permits this request');

    const allowedCall = await evaluation({ subject: agentOf(s.agentId, 'alice'), action: { name: 'tools/call' }, resource: readFile(), context: callContext() });
    assert.equal(allowedCall.status, 200);
    assert.deepEqual((allowedCall.body as unknown as DecisionBody).context.policies, ['mandate-names-tool']);

    const suspended = await evaluation({ subject: agentOf(s.agentId, 'alice', 'suspended'), action: { name: 'tools/call' }, resource: readFile(), context: callContext() });
    assert.equal(suspended.status, 200);
    assert.deepEqual(suspended.body, {
      decision: false,
      context: { reason_admin: { en: 'forbidden by agent-must-be-active' }, policies: ['agent-must-be-active'], policy_set_hash: h.app.policy().hash },
    });
  });

  it('denies what it cannot decide, with the error in the context (still 200: the request was well formed)', async () => {
    const answer = await evaluation({ subject: { type: 'todo-user', id: 'alice' }, action: grant, resource: agentOf(s.agentId, 'alice'), context: { ...grantContext, ttl: 900.5 } });
    assert.equal(answer.status, 200);
    const body = answer.body as unknown as DecisionBody;
    assert.equal(body.decision, false);
    assert.equal(body.context.error?.status, 400);
    assert.match(String(body.context.error?.message), /^subject\.type: "todo-user" is not a Cedar entity type name/);
  });

  it('records every evaluation in the audit log: who asked, about what, the answer and why, the input by digest only', async () => {
    const from = await lastSeq();
    await evaluation({ subject: alice, action: grant, resource: agentOf(s.agentId, 'alice'), context: grantContext });
    await evaluation({ subject: alice, action: grant, resource: agentOf(s.agentId, 'alice'), context: grantContext }, { token: s.personToken });
    await evaluation({ subject: alice, action: grant, resource: agentOf('agt_someone_elses', 'bob'), context: grantContext });
    const events = await eventsAfter(from);
    assert.deepEqual(events.map((e) => [e.kind, e.caller, e.person, e.subject, e.method, e.resource, e.decision, e.reason, e.policies]), [
      ['evaluation', 'admin', null, 'Person::"alice"', 'mandate/grant', `Agent::"${s.agentId}"`, 'allow', null, ['owner-may-grant']],
      ['evaluation', 'person alice', 'alice', 'Person::"alice"', 'mandate/grant', `Agent::"${s.agentId}"`, 'allow', null, ['owner-may-grant']],
      ['evaluation', 'admin', null, 'Person::"alice"', 'mandate/grant', 'Agent::"agt_someone_elses"', 'deny', 'no_policy_permits', []],
    ]);
    const [first, second] = events as [Event, Event];
    assert.equal(first.policy_set_hash, h.app.policy().hash);
    assert.match(String(first.arguments_digest), /^sha256:[0-9a-f]{64}$/);
    assert.equal(first.arguments_digest, second.arguments_digest, 'the same question has the same digest');
    assert.doesNotMatch(JSON.stringify(events), /summarize Q3/, 'properties and context are not in the log');
  });
});

describe('access evaluations', () => {
  // alice asks about three agents: her own (permit), bob's (deny), her own again (permit).
  const batch = (semantic?: string) => ({
    subject: alice, action: grant, context: grantContext,
    ...(semantic ? { options: { evaluations_semantic: semantic } } : {}),
    evaluations: [{ resource: agentOf(s.agentId, 'alice') }, { resource: agentOf('agt_bobs', 'bob') }, { resource: agentOf('agt_alices_other', 'alice') }],
  });
  const decisions = (answer: Answer) => (answer.body.evaluations as DecisionBody[]).map((d) => [d.decision, d.context.reason ?? null]);

  it('takes subject, action and context from the top level, lets an evaluation override any of them (whole), and answers in order', async () => {
    const answer = await evaluations({
      subject: alice, action: grant, context: grantContext,
      evaluations: [
        { resource: agentOf(s.agentId, 'alice') },
        { subject: { type: 'Person', id: 'bob', properties: { status: 'active' } }, resource: agentOf('agt_bobs', 'bob') },
        { subject: { type: 'Person', id: 'bob', properties: { status: 'deactivated' } }, resource: agentOf('agt_bobs', 'bob') },
        { action: { name: 'tools/call' }, resource: agentOf(s.agentId, 'alice') },
        // The context is replaced whole, not merged: without ttl the grant policy still permits (it does not read ttl).
        { resource: agentOf(s.agentId, 'alice'), context: { purpose: 'other' } },
      ],
    }, { headers: { 'x-request-id': 'batch-1' } });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('x-request-id'), 'batch-1');
    assert.equal(answer.body.decision, undefined, 'a batch answer carries no top-level decision');
    const answers = answer.body.evaluations as DecisionBody[];
    assert.deepEqual(answers.map((d) => [d.decision, d.context.policies]), [
      [true, ['owner-may-grant']], [true, ['owner-may-grant']], [false, []], [false, []], [true, ['owner-may-grant']],
    ]);
    assert.ok(answers.every((d) => d.context.policy_set_hash === h.app.policy().hash));
  });

  it('execute_all (the default) answers every evaluation', async () => {
    assert.deepEqual(decisions(await evaluations(batch())), [[true, null], [false, null], [true, null]]);
    assert.deepEqual(decisions(await evaluations(batch('execute_all'))), [[true, null], [false, null], [true, null]]);
  });

  it('deny_on_first_deny ends the answers with the first denial, marked, and never evaluates the rest', async () => {
    const from = await lastSeq();
    assert.deepEqual(decisions(await evaluations(batch('deny_on_first_deny'))), [[true, null], [false, 'deny_on_first_deny']]);
    const events = await eventsAfter(from);
    assert.deepEqual(events.map((e) => e.resource), [`Agent::"${s.agentId}"`, 'Agent::"agt_bobs"'], 'only what was evaluated is recorded');
  });

  it('permit_on_first_permit ends the answers with the first permit', async () => {
    assert.deepEqual(decisions(await evaluations(batch('permit_on_first_permit'))), [[true, 'permit_on_first_permit']]);
    const bobsFirst = { ...batch('permit_on_first_permit'), evaluations: [{ resource: agentOf('agt_bobs', 'bob') }, { resource: agentOf(s.agentId, 'alice') }, { resource: agentOf('agt_bobs', 'bob') }] };
    assert.deepEqual(decisions(await evaluations(bobsFirst)), [[false, null], [true, 'permit_on_first_permit']]);
  });

  it('decides each evaluation on its own: one that cannot be decided denies only itself', async () => {
    const answer = await evaluations({ ...batch(), evaluations: [{ resource: agentOf(s.agentId, 'alice') }, { resource: { type: 'Agent', id: 'x', properties: { score: 0.5 } } }, { resource: agentOf(s.agentId, 'alice') }] });
    const answers = answer.body.evaluations as DecisionBody[];
    assert.deepEqual(answers.map((d) => d.decision), [true, false, true]);
    assert.match(String(answers[1]?.context.error?.message), /^resource\.properties\.score: 0\.5 is not a whole number/);
  });

  it('answers a request without evaluations as a single evaluation', async () => {
    const single = { subject: alice, action: grant, resource: agentOf(s.agentId, 'alice'), context: grantContext };
    for (const body of [single, { ...single, evaluations: [] }]) {
      const answer = await evaluations(body);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.decision, true);
      assert.equal(answer.body.evaluations, undefined);
    }
  });
});

describe('who may ask', () => {
  it('refuses a request without credentials: 401 with a Bearer challenge, nothing decided or recorded', async () => {
    const from = await lastSeq();
    for (const path of ['/access/v1/evaluation', '/access/v1/evaluations']) {
      const answer = await post(h, path, { subject: alice, action: grant, resource: agentOf(s.agentId, 'alice') }, { token: null, headers: { 'x-request-id': 'anon-1' } });
      assert.equal(answer.status, 401);
      assert.equal(answer.headers.get('www-authenticate'), 'Bearer realm="mandate"', 'no error code when no credential came (RFC 6750 §3.1)');
      assert.equal(answer.headers.get('content-type'), 'application/problem+json');
      assert.equal(answer.headers.get('x-request-id'), 'anon-1');
      assert.equal(answer.body.code, 'token_missing');
      assert.equal(answer.body.decision, undefined);
    }
    assert.equal(await lastSeq(), from);
  });

  it('refuses a credential that is not valid, and an agent\'s task token (agents are what is governed, not enforcement points)', async () => {
    const task = await exchange(h, s);
    assert.equal(task.status, 200, JSON.stringify(task.body));
    // The exchange itself is recorded (a token event); the refused evaluations are not.
    const from = await lastSeq();
    const forged = await evaluation({ subject: alice, action: grant, resource: agentOf(s.agentId, 'alice') }, { token: 'mandate_admin_forged' });
    assert.equal(forged.status, 401);
    assert.match(String(forged.headers.get('www-authenticate')), /^Bearer error="invalid_token"/);
    const asAgent = await evaluation({ subject: alice, action: grant, resource: agentOf(s.agentId, 'alice') }, { token: String(task.body.access_token) });
    assert.equal(asAgent.status, 401);
    const basic = await evaluation({ subject: alice, action: grant, resource: agentOf(s.agentId, 'alice') }, { headers: { authorization: 'Basic YWxpY2U6c2VjcmV0' } });
    assert.equal(basic.status, 401);
    assert.equal(basic.body.code, 'authorization_malformed');
    assert.equal(await lastSeq(), from);
  });
});

describe('malformed requests: 400 naming what is wrong, nothing decided or recorded', () => {
  const good = { subject: alice, action: grant, resource: agentOf('agt_1', 'alice') };
  const refused = async (answer: Answer, status: number, code: string, detail?: RegExp): Promise<void> => {
    const shown = JSON.stringify(answer.body);
    assert.equal(answer.status, status, shown);
    assert.equal(answer.headers.get('content-type'), 'application/problem+json', shown);
    assert.equal(answer.body.code, code, shown);
    if (detail) assert.match(String(answer.body.detail), detail);
    assert.equal(answer.headers.get('x-request-id'), 'bad-1');
  };
  const headers = { 'x-request-id': 'bad-1' };

  it('refuses bodies that are not an AuthZEN request', async () => {
    const from = await lastSeq();
    await refused(await evaluation(null, { raw: '{"subject": ', headers }), 400, 'invalid_json');
    await refused(await evaluation(null, { raw: JSON.stringify(good), headers: { ...headers, 'content-type': 'text/plain' } }), 415, 'unsupported_media_type');
    await refused(await evaluation([good], { headers }), 400, 'invalid_body', /^body: /);
    await refused(await evaluation({ action: grant, resource: good.resource }, { headers }), 400, 'invalid_body', /^subject: /);
    await refused(await evaluation({ ...good, subject: { type: 'Person', id: 42 } }, { headers }), 400, 'invalid_body', /^subject\.id: /);
    await refused(await evaluation({ ...good, action: { properties: {} } }, { headers }), 400, 'invalid_body', /^action\.name: /);
    await refused(await evaluation({ ...good, resource: { ...good.resource, properties: ['owner'] } }, { headers }), 400, 'invalid_body', /^resource\.properties: /);
    await refused(await evaluation({ ...good, context: 'now' }, { headers }), 400, 'invalid_body', /^context: /);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { deeper: deep };
    await refused(await evaluation({ ...good, context: { deep } }, { headers }), 400, 'invalid_body', /^context: nests deeper than 32 levels/);
    await refused(await evaluation(null, { raw: JSON.stringify({ ...good, context: { padding: 'x'.repeat(70_000) } }), headers }), 413, 'body_too_large');
    assert.equal(await lastSeq(), from);
  });

  it('refuses batches whose evaluations lack a member with no default, an unknown semantic, and more than the limit', async () => {
    const from = await lastSeq();
    await refused(await evaluations({ action: grant, evaluations: [{ subject: alice, resource: good.resource }, { resource: good.resource }] }, { headers }), 400, 'invalid_body',
      /^evaluations\.1\.subject: required: neither this evaluation nor the top level has a subject$/);
    await refused(await evaluations({ subject: alice, action: grant }, { headers }), 400, 'invalid_body', /^resource: required \(there are no evaluations to give one\)$/);
    await refused(await evaluations({ ...good, options: { evaluations_semantic: 'first_match' }, evaluations: [{}] }, { headers }), 400, 'invalid_body', /^options\.evaluations_semantic: /);
    await refused(await evaluations({ ...good, evaluations: {} }, { headers }), 400, 'invalid_body', /^evaluations: /);
    const many = { ...good, evaluations: Array.from({ length: MAX_EVALUATIONS + 1 }, () => ({})) };
    await refused(await evaluations(many, { headers }), 400, 'invalid_body', new RegExp(`^evaluations: at most ${MAX_EVALUATIONS} evaluations per request`));
    assert.equal(await lastSeq(), from);
    const limit = await evaluations({ ...good, evaluations: Array.from({ length: MAX_EVALUATIONS }, () => ({})) });
    assert.equal((limit.body.evaluations as unknown[]).length, MAX_EVALUATIONS, 'the limit itself is accepted');
  });

  it('ignores members it does not know (the API may be augmented) and unknown options', async () => {
    const answer = await evaluations({ ...good, context: grantContext, extension: { x: 1 }, options: { another_option: 'value' }, evaluations: [{ note: 'n' }] });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual((answer.body.evaluations as DecisionBody[]).map((d) => d.decision), [true]);
  });
});

describe('a policy directory of our own', () => {
  let custom: Harness;
  const policy = `
    // Production agents owned by carol may use read tools of the reports server that
    // were there when their mandate was granted; no tool with external egress, ever.
    @id("carol-prod-agents-read-reports")
    permit (principal is Agent, action == Action::"tools/call", resource is Tool in Server::"reports")
    when {
      principal.environment == "prod" && principal.owner == Person::"carol" &&
      resource.effect == "read" && resource.first_seen <= context.granted_at &&
      context.scope.contains(context.call)
    };

    @id("never-external-egress")
    forbid (principal is Agent, action == Action::"tools/call", resource is Tool)
    when { resource.egress == "external" };
  `;
  const agent = (overrides: Record<string, unknown> = {}) => ({
    type: 'Agent', id: 'agt_reporter', properties: { owner: { __entity: { type: 'Person', id: 'carol' } }, environment: 'prod', status: 'active', ...overrides },
  });
  const tool = (overrides: Record<string, unknown> = {}) => ({
    type: 'Tool', id: 'reports/monthly',
    properties: { server: 'reports', name: 'monthly', sensitivity: 'internal', effect: 'read', egress: 'internal', first_seen: 1_700_000_000, __parents: [{ type: 'Server', id: 'reports' }], ...overrides },
  });
  const context = (overrides: Record<string, unknown> = {}) => ({
    mandate: 'mnd_1', purpose: 'monthly report', scope: ['reports/monthly', 'reports/summary'], call: 'reports/monthly', kind_wildcard: 'reports/monthly',
    server_wildcard: 'reports/*', granted_at: 1_700_000_500, server_environment: 'prod', ...overrides,
  });
  const ask = async (subject: unknown, resource: unknown, ctx: unknown): Promise<DecisionBody> => {
    const answer = await post(custom, '/access/v1/evaluation', { subject, action: { name: 'tools/call' }, resource, context: ctx });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body as unknown as DecisionBody;
  };

  before(async () => {
    custom = await startMandate();
    const dir = join(custom.dataDir, 'policies');
    for (const file of await readdir(dir)) if (file.endsWith('.cedar')) await rm(join(dir, file));
    await writeFile(join(dir, 'reports.cedar'), policy);
    await custom.app.reloadPolicies();
  });
  after(() => custom.close());

  it('decides with that set, reading properties as attributes: strings, Longs, sets, entity references, parents', async () => {
    const permitted = await ask(agent(), tool(), context());
    assert.deepEqual(permitted, {
      decision: true,
      context: { reason_admin: { en: 'permitted by carol-prod-agents-read-reports' }, policies: ['carol-prod-agents-read-reports'], policy_set_hash: custom.app.policy().hash },
    });
    assert.notEqual(custom.app.policy().hash, h.app.policy().hash);
    for (const [subject, resource, ctx] of [
      [agent({ environment: 'dev' }), tool(), context()],
      [agent({ owner: { __entity: { type: 'Person', id: 'dave' } } }), tool(), context()],
      [agent({ owner: 'carol' }), tool(), context()], // a string is not an entity reference
      [agent(), tool({ __parents: [{ type: 'Server', id: 'billing' }] }), context()],
      [agent(), tool({ __parents: [] }), context()],
      [agent(), tool({ first_seen: 1_700_000_600 }), context()],
      [agent(), tool(), context({ scope: ['reports/summary'] })],
    ]) {
      const denied = await ask(subject, resource, ctx);
      assert.equal(denied.decision, false, JSON.stringify([subject, resource, ctx]));
      assert.deepEqual(denied.context.policies, []);
    }
  });

  it('names the forbid, and fails closed with the errors as reasons when a policy cannot read what it needs', async () => {
    const forbidden = await ask(agent(), tool({ egress: 'external' }), context());
    assert.equal(forbidden.decision, false);
    assert.deepEqual(forbidden.context.policies, ['never-external-egress']);
    assert.equal(forbidden.context.reason_admin.en, 'forbidden by never-external-egress');

    const { egress: _egress, ...withoutEgress } = tool().properties;
    const unknowable = await ask(agent(), { ...tool(), properties: withoutEgress }, context());
    assert.equal(unknowable.decision, false);
    assert.match(String(unknowable.context.errors?.[0]), /^never-external-egress: /);
    assert.match(unknowable.context.reason_admin.en, /^denied: the request could not be evaluated/);

    const wrongType = await ask(agent(), tool({ first_seen: '1700000000' }), context());
    assert.equal(wrongType.decision, false);
    assert.match(String(wrongType.context.errors?.[0]), /^carol-prod-agents-read-reports: /);
  });

  it('no longer answers by the defaults it replaced', async () => {
    const answer = await post(custom, '/access/v1/evaluation', { subject: alice, action: grant, resource: agentOf('agt_1', 'alice'), context: grantContext });
    assert.equal(answer.body.decision, false);
    assert.deepEqual((answer.body as unknown as DecisionBody).context.policies, []);
  });
});
