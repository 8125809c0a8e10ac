// Every Cedar example in docs/policy.md validates against the schema (strict mode),
// and each one is exercised here: decided with the default policies, on requests
// built as the gateway and the grant build them, allowed and denied as the page says.
// Each decision is also made on the request cut down to what the set reads, with the
// same result. A `cedar` block added to the page without cases here fails this test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { grantRequest } from '../src/delegation/mandates.ts';
import { mapArguments } from '../src/gateway/arguments.ts';
import { governedRequest } from '../src/gateway/request.ts';
import type { CallerContext, GovernedMethod } from '../src/gateway/session.ts';
import { PolicyEngine, splitPolicies, type AuthorizationRequest, type LoadedPolicy } from '../src/policy/engine.ts';
import { actionEntity, agentEntity, entityValue, personEntity, timeContext } from '../src/policy/entities.ts';
import { decideWithApprovals, liftedEngine } from '../src/policy/approval-decision.ts';
import { DecisionPoint } from '../src/policy/decision-point.ts';
import { PolicySet } from '../src/policy/policy-set.ts';
import type { Agent, Environment, Person, Server, Tool, ToolLabels } from '../src/store/types.ts';

const read = (path: string): string => readFileSync(new URL(path, import.meta.url), 'utf8');
const SCHEMA = read('../policies/schema.cedarschema');
const DEFAULTS = ['gateway.cedar', 'delegation.cedar', 'flow.cedar'].map((f) => ({ origin: f, text: read(`../policies/default/${f}`) }));
const DEFAULT_IDS = new Set(splitPolicies(DEFAULTS).map((p) => p.id));

/** The `cedar` blocks of docs/policy.md, each with the line it starts on. */
const BLOCKS = [...read('../docs/policy.md').matchAll(/^```cedar\n([\s\S]*?)^```/gm)].map((m) => ({
  line: read('../docs/policy.md').slice(0, m.index).split('\n').length,
  text: m[1] as string,
}));
const EXAMPLES = new Map<string, LoadedPolicy>();
const REPEATED: string[] = [];
for (const block of BLOCKS) {
  for (const policy of splitPolicies([{ origin: `docs/policy.md:${block.line}`, text: block.text }])) {
    if (EXAMPLES.has(policy.id)) REPEATED.push(policy.id);
    EXAMPLES.set(policy.id, policy);
  }
}

// ---- the world the examples are decided in ----------------------------------

const person = (id: string): Person => ({ id, email: `${id}@example.com`, name: null, status: 'active', issuer: null, subject: null, createdAt: 0 });
const alice = person('alice');
const carol = person('carol');
const agent = (environment: Environment = 'dev', over: Partial<Agent> = {}): Agent => ({
  id: `agt_${environment}`, name: `${environment}-bot`, spiffeId: `spiffe://mandate.local/agent/${environment}-bot`, owner: 'alice', purpose: 'tests',
  environment, status: 'active', reviewDue: null, keys: [], createdAt: 0, enrolledAt: 0, ...over,
});
const server = (name: string, environment: Environment | null = null): Server => ({ name, upstream: { transport: 'stdio', command: 'x', args: [] }, environment, createdAt: 0 });

const MONDAY_10 = Date.UTC(2027, 0, 18, 10, 0, 0) / 1000;
const MONDAY_19 = MONDAY_10 + 9 * 3600;
const SATURDAY_10 = MONDAY_10 + 5 * 86_400;
const SUNDAY_10 = MONDAY_10 - 86_400;

interface CallOptions {
  method?: GovernedMethod;
  scope?: string[];
  agents?: string[];
  environment?: Environment | null;
  agentEnvironment?: Environment;
  labels?: Partial<ToolLabels>;
  now?: number;
  context?: Record<string, cedar.CedarValueJson>;
}

/** A gateway request, as the gateway builds it (arguments mapped). */
function call(target: string, args: unknown, options: CallOptions = {}): AuthorizationRequest {
  const slash = target.indexOf('/');
  const [serverName, name] = [target.slice(0, slash), target.slice(slash + 1)];
  const method = options.method ?? 'tools/call';
  const a = agent(options.agentEnvironment ?? options.environment ?? 'dev');
  const caller: CallerContext = {
    mandateId: 'mnd_1', clientId: a.spiffeId, scope: options.scope ?? [target], person: 'alice', agents: options.agents ?? [a.spiffeId],
    purpose: 'tests', agent: a, grantedAt: MONDAY_10 - 600, expiresAt: MONDAY_10 + 600,
  };
  const tool: Tool = { server: serverName, name, sensitivity: 'internal', effect: 'read', egress: 'internal', labelled: true, firstSeen: 0, ...options.labels };
  const mapped = mapArguments(args);
  assert.ok(mapped.ok, JSON.stringify(mapped));
  const request = governedRequest(caller, server(serverName, options.environment ?? null), method, name, method === 'tools/call' ? tool : undefined, options.now ?? MONDAY_10, mapped.views);
  return options.context ? { ...request, context: { ...request.context, ...options.context } } : request;
}

function grant(grantor: Person, to: Agent, scope: string[], options: { ttl?: number; now?: number } = {}): AuthorizationRequest {
  return grantRequest(grantor, grantor.id === to.owner ? grantor : alice, to, { purpose: 'p', scope, ttl: options.ttl ?? 900 }, options.now ?? MONDAY_10);
}

/** A `mandate/delegate` request (not asked by Mandate yet): agent `from` sub-delegating its mandate to `to`. */
function delegate(depth: number, state = 'active'): AuthorizationRequest {
  const from = agent('dev');
  const to = agent('dev', { id: 'agt_sub', name: 'sub-bot', spiffeId: 'spiffe://mandate.local/agent/sub-bot' });
  const request: AuthorizationRequest = {
    principal: { type: 'Agent', id: from.id },
    action: 'mandate/delegate',
    resource: { type: 'Mandate', id: 'mnd_parent' },
    context: { agent: entityValue('Agent', to.id), purpose: 'p', scope: ['fs/read_file'], ttl: 300, depth, actors: [from.spiffeId], time: timeContext(MONDAY_10) },
    entities: [
      agentEntity(from), agentEntity(to), personEntity(alice), actionEntity('mandate/delegate'),
      {
        uid: { type: 'Mandate', id: 'mnd_parent' },
        attrs: {
          grantor: entityValue('Person', 'alice'), agent: entityValue('Agent', from.id), purpose: 'p', scope: ['fs/read_file'], depth: depth - 1,
          granted_at: MONDAY_10 - 60, expires_at: MONDAY_10 + 600, state,
        },
        parents: [],
      },
    ],
  };
  // What sub-delegation will ask must fit the schema the example is written against.
  const checked = cedar.isAuthorized({
    principal: request.principal, action: { type: 'Action', id: request.action }, resource: request.resource, context: request.context,
    entities: request.entities as cedar.Entities, policies: { staticPolicies: {} }, schema: SCHEMA, validateRequest: true,
  });
  assert.equal(checked.type, 'success', JSON.stringify(checked));
  return request;
}

// ---- the cases --------------------------------------------------------------

interface Case {
  name: string;
  request: AuthorizationRequest;
  expect: 'allow' | 'deny';
  /** The determining policies expected. */
  policies: string[];
  /** The decision with shadow policies enforced, when one applies. */
  shadow?: 'allow' | 'deny';
  /** When the deny needs approval: the approvers, one list per determining policy. */
  approvers?: string[][];
  /** Decided as the gateway decides a call holding its approval: without the approval policies. */
  approved?: boolean;
}

/** Policies a case needs beside the example (a permit the example narrows). */
const ALSO: Record<string, string> = {
};

const ok = (request: AuthorizationRequest, name = 'allowed'): Case => ({ name, request, expect: 'allow', policies: ['mandate-names-tool'] });
const no = (request: AuthorizationRequest, by: string, name = 'denied'): Case => ({ name, request, expect: 'deny', policies: [by] });

const CASES: Record<string, Case[]> = {
  'owner-may-grant': [
    { name: 'the owner grants', request: grant(alice, agent(), ['fs/read_file']), expect: 'allow', policies: ['owner-may-grant'] },
    { name: 'another person may not', request: grant(carol, agent(), ['fs/read_file']), expect: 'deny', policies: [] },
    { name: 'not to a suspended agent', request: grant(alice, agent('dev', { status: 'suspended' }), ['fs/read_file']), expect: 'deny', policies: [] },
  ],
  'oncall-lead-may-grant': [
    { name: 'carol, a prod agent, an hour', request: grant(carol, agent('prod'), ['fs/read_file'], { ttl: 3600 }), expect: 'allow', policies: ['oncall-lead-may-grant'] },
    { name: 'not for two hours', request: grant(carol, agent('prod'), ['fs/read_file'], { ttl: 7200 }), expect: 'deny', policies: [] },
    { name: 'not a dev agent', request: grant(carol, agent('dev'), ['fs/read_file'], { ttl: 600 }), expect: 'deny', policies: [] },
  ],
  'no-payments-transfers': [
    { name: 'a transfer grant', request: grant(alice, agent(), ['payments/transfer']), expect: 'deny', policies: ['no-payments-transfers'] },
    { name: 'all of payments', request: grant(alice, agent(), ['fs/read_file', 'payments/*']), expect: 'deny', policies: ['no-payments-transfers'] },
    { name: 'other tools', request: grant(alice, agent(), ['payments/balance']), expect: 'allow', policies: ['owner-may-grant'] },
  ],
  'no-weekend-grants': [
    { name: 'on a Sunday', request: grant(alice, agent(), ['fs/read_file'], { now: SUNDAY_10 }), expect: 'deny', policies: ['no-weekend-grants'] },
    { name: 'on a Monday', request: grant(alice, agent(), ['fs/read_file'], { now: MONDAY_10 }), expect: 'allow', policies: ['owner-may-grant'] },
  ],
  'read-only-reports': [
    ok(call('fs/read_file', { path: '/reports/q3.txt' }), 'a report'),
    ok(call('fs/read_file', { path: '//reports/./q3/../q4.txt' }), 'a report, spelled oddly'),
    no(call('fs/read_file', { path: '/reports/../etc/passwd' }), 'read-only-reports', 'out by ..'),
    no(call('fs/read_file', { path: '/etc/passwd' }), 'read-only-reports', 'elsewhere'),
    no(call('fs/read_file', { path: '/reportsX/a' }), 'read-only-reports', 'a lookalike directory'),
    no(call('fs/read_file', { path: 'reports/q3.txt' }), 'read-only-reports', 'a relative path'),
    no(call('fs/read_file', {}), 'read-only-reports', 'no path'),
    ok(call('fs/read_file', { path: ['/reports/a', '/reports/b'] }), 'a list where a string belongs: read as paths all the same'),
  ],
  'read-many-only-reports': [
    ok(call('fs/read_multiple_files', { paths: ['/reports/a.txt', '/reports/q3/b.txt'] }), 'all under /reports'),
    no(call('fs/read_multiple_files', { paths: ['/reports/a.txt', '/etc/passwd'] }), 'read-many-only-reports', 'one outside'),
    no(call('fs/read_multiple_files', { paths: ['/reports/a.txt', 'b.txt'] }), 'read-many-only-reports', 'one no path'),
  ],
  'amount-small-if-given': [
    no(call('payments/transfer', { amount: 5000, currency: 'EUR' }), 'amount-small-if-given', 'over the limit'),
    ok(call('payments/transfer', { currency: 'EUR' }), 'the pitfall: no amount passes'),
    ok(call('payments/transfer', { amount: '1e6', currency: 'EUR' }), 'the pitfall: an amount with no decimal reading passes'),
  ],
  'transfers-up-to-1000': [
    ok(call('payments/transfer', { amount: 999.99 }), 'under'),
    ok(call('payments/transfer', { amount: 1000 }), 'at the limit'),
    ok(call('payments/transfer', { amount: '250.00' }), 'as a string'),
    no(call('payments/transfer', { amount: 1000.01 }), 'transfers-up-to-1000', 'over'),
    no(call('payments/transfer', { amount: 1e21 }), 'transfers-up-to-1000', 'far over, beyond any view'),
    no(call('payments/transfer', { amount: 0.00001 }), 'transfers-up-to-1000', 'more than four decimal places'),
    no(call('payments/transfer', { amount: '1e3' }), 'transfers-up-to-1000', 'an exponent'),
    no(call('payments/transfer', {}), 'transfers-up-to-1000', 'no amount'),
  ],
  'transfers-in-euros': [
    ok(call('payments/transfer', { amount: 5, currency: 'EUR' }), 'euros'),
    no(call('payments/transfer', { amount: 5, currency: 'USD' }), 'transfers-in-euros', 'dollars'),
    no(call('payments/transfer', { amount: 5 }), 'transfers-in-euros', 'no currency'),
  ],
  'refunds-up-to-500-euros': [
    ok(call('payments/refund', { amount_cents: 50000 }), 'at the limit'),
    no(call('payments/refund', { amount_cents: 50001 }), 'refunds-up-to-500-euros', 'over'),
    no(call('payments/refund', { amount_cents: 123.5 }), 'refunds-up-to-500-euros', 'not whole cents'),
  ],
  'mail-stays-in-house': [
    ok(call('mail/send_email', { to: 'bob@example.com', subject: 's', body: 'b' }), 'one address in house'),
    ok(call('mail/send_email', { to: ['Bob <bob@Example.COM>', 'amy@example.org'], cc: [], subject: 's', body: 'write to x@evil.test' }), 'a list, an empty cc, an outside address in the body'),
    no(call('mail/send_email', { to: 'bob@evil.test', subject: 's', body: 'b' }), 'mail-stays-in-house', 'outside'),
    no(call('mail/send_email', { to: 'a@example.com, b@evil.test', subject: 's', body: 'b' }), 'mail-stays-in-house', 'one outside, in one string'),
    no(call('mail/send_email', { to: ['a@example.com', 'b@example.com.evil.test'], subject: 's', body: 'b' }), 'mail-stays-in-house', 'a lookalike domain'),
    no(call('mail/send_email', { to: 'a@example.com', cc: ['x@evil.test'], subject: 's', body: 'b' }), 'mail-stays-in-house', 'outside in cc'),
    no(call('mail/send_email', { to: 'bob', subject: 's', body: 'b' }), 'mail-stays-in-house', 'no address'),
    no(call('mail/send_email', { to: { address: 'bob@evil.test' }, subject: 's', body: 'b' }), 'mail-stays-in-house', 'an object where the address belongs'),
  ],
  'fetch-only-docs': [
    ok(call('web/fetch', { url: 'https://docs.example.com/guide' }), 'the docs'),
    no(call('web/fetch', { url: 'https://docs.example.com@evil.test/' }), 'fetch-only-docs', 'userinfo trick'),
    no(call('web/fetch', { url: 'docs.example.com/guide' }), 'fetch-only-docs', 'no URL'),
  ],
  'prod-in-business-hours': [
    ok(call('db/query', {}, { environment: 'prod', now: MONDAY_10 }), 'Monday 10:00'),
    no(call('db/query', {}, { environment: 'prod', now: SATURDAY_10 }), 'prod-in-business-hours', 'Saturday'),
    no(call('db/query', {}, { environment: 'prod', now: MONDAY_19 }), 'prod-in-business-hours', 'Monday 19:00'),
    ok(call('db/query', {}, { environment: null, agentEnvironment: 'prod', now: SATURDAY_10 }), 'a server of any environment, on Saturday'),
    no(call('db/report', {}, { method: 'prompts/get', scope: ['db/prompt:*'], environment: 'prod', now: SATURDAY_10 }), 'prod-in-business-hours', 'a prompt too'),
  ],
  'at-most-one-sub-agent': [
    ok(call('fs/read_file', {}, { agents: ['spiffe://mandate.local/agent/dev-bot', 'spiffe://mandate.local/agent/planner'] }), 'one sub-agent'),
    no(call('fs/read_file', {}, { agents: ['spiffe://mandate.local/agent/dev-bot', 'spiffe://mandate.local/agent/a', 'spiffe://mandate.local/agent/b'] }), 'at-most-one-sub-agent', 'two'),
  ],
  'delegation-at-most-two-deep': [
    { name: 'depth 2', request: delegate(2), expect: 'allow', policies: ['agent-may-delegate-to-a-sibling'] },
    { name: 'depth 3', request: delegate(3), expect: 'deny', policies: ['delegation-at-most-two-deep'] },
    { name: 'an ended parent', request: delegate(1, 'revoked'), expect: 'deny', policies: ['delegation-at-most-two-deep'] },
  ],
  'secrets-need-naming': [
    no(call('vault/read_secret', {}, { scope: ['vault/*'], labels: { sensitivity: 'secret' } }), 'secrets-need-naming', 'under a server-wide grant'),
    ok(call('vault/read_secret', {}, { scope: ['vault/read_secret'], labels: { sensitivity: 'secret' } }), 'named'),
  ],
  'no-etc': [
    no(call('fs/file:///etc/passwd', undefined, { method: 'resources/read', scope: ['fs/resource:*'] }), 'no-etc', '/etc'),
    { name: 'elsewhere', request: call('fs/file:///reports/a', undefined, { method: 'resources/read', scope: ['fs/resource:*'] }), expect: 'allow', policies: ['mandate-covers-resources'] },
  ],
  'no-exfiltration': [
    ok(call('web/post', {}, { labels: { egress: 'external' } }), 'nothing read yet'),
    {
      name: 'after reading confidential data: denied, not only waiting for approval',
      request: call('web/post', {}, { labels: { egress: 'external' }, context: { history: { max_sensitivity: 'confidential', max_sensitivity_level: 2, untrusted: false, tools: ['crm/export'], external: false, destinations: [] } } }),
      expect: 'deny', policies: ['confidential-then-external-needs-approval', 'no-exfiltration'],
    },
  ],
  'destructive-needs-approval': [
    { ...no(call('fs/delete', {}, { labels: { effect: 'destructive' } }), 'destructive-needs-approval', 'unapproved: needs approval'), approvers: [['owner', 'group:security']] },
    { ...ok(call('fs/delete', {}, { labels: { effect: 'destructive' }, context: { approvals: [entityValue('Person', 'carol')] } }), 'approved'), approvers: [['owner', 'group:security']], approved: true },
  ],
  'refunds-over-100-need-approval': [
    ok(call('payments/refund', { amount_cents: 10000 }), 'up to 100'),
    { ...no(call('payments/refund', { amount_cents: 10001 }), 'refunds-over-100-need-approval', 'over 100: the owner or finance approves'), approvers: [['owner', 'group:finance']] },
    { ...no(call('payments/refund', {}), 'refunds-over-100-need-approval', 'no amount: needs approval too'), approvers: [['owner', 'group:finance']] },
    { ...ok(call('payments/refund', { amount_cents: 25000 }, { context: { approvals: [entityValue('Person', 'alice')] } }), 'approved'), approvers: [['owner', 'group:finance']], approved: true },
  ],
  'no-external-egress': [
    { name: 'shadow: allowed, and reported as denied', request: call('web/post', {}, { labels: { egress: 'external' } }), expect: 'allow', policies: ['mandate-names-tool'], shadow: 'deny' },
  ],
};

// ---- the tests --------------------------------------------------------------

describe('docs/policy.md examples', () => {
  it('are found, each id once', () => {
    assert.ok(BLOCKS.length >= 15, `${BLOCKS.length} cedar blocks`);
    assert.deepEqual(REPEATED, []);
    for (const id of ['read-only-reports', 'transfers-up-to-1000', 'mail-stays-in-house', 'prod-in-business-hours', 'at-most-one-sub-agent', 'owner-may-grant']) assert.ok(EXAMPLES.has(id), id);
  });

  it('each validate against the schema in strict mode', () => {
    for (const block of BLOCKS) {
      assert.doesNotThrow(() => PolicySet.load([{ origin: `docs/policy.md:${block.line}`, text: block.text }], SCHEMA), `the cedar block at docs/policy.md:${block.line}`);
    }
  });

  it('show the default policies as they are', () => {
    for (const policy of splitPolicies(DEFAULTS)) assert.deepEqual(EXAMPLES.get(policy.id)?.json, policy.json, policy.id);
  });

  it('are every one exercised here', () => {
    const missing = [...EXAMPLES.keys()].filter((id) => !DEFAULT_IDS.has(id) && !CASES[id]);
    assert.deepEqual(missing, [], 'add cases for these examples');
  });

  for (const [id, cases] of Object.entries(CASES)) {
    it(`${id}: decides as documented`, () => {
      const example = EXAMPLES.get(id);
      assert.ok(example, `${id} is in docs/policy.md`);
      const sources = [...DEFAULTS];
      if (!DEFAULT_IDS.has(id)) sources.push({ origin: 'example.cedar', text: `${example.text}\n${ALSO[id] ?? ''}` });
      const loaded = PolicyEngine.load(sources, SCHEMA);
      for (const c of cases) {
        assert.deepEqual(decideWithApprovals(loaded, c.request).needsApproval?.approvers, c.approvers, `${id}: ${c.name} (approvers)`);
        const engine = c.approved ? liftedEngine(loaded) : loaded;
        const whole = new DecisionPoint(engine.set);
        const decision = whole.decide(c.request);
        assert.deepEqual([decision.decision, decision.policies, decision.errors], [c.expect, c.policies, []], `${id}: ${c.name}`);
        assert.equal(decision.shadow?.decision, c.shadow, `${id}: ${c.name} (shadow)`);
        const cut = engine.decide(c.request);
        assert.deepEqual([cut.decision, cut.policies, cut.errors, cut.shadow?.decision], [c.expect, c.policies, [], c.shadow], `${id}: ${c.name} (projected)`);
      }
    });
  }
});
