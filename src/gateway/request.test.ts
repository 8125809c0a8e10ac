// The Cedar requests the gateway and the grant builds: each conforms to the schema
// (Cedar itself validates request, context and entities), carries what the gateway
// knows (actor chain, depth, time, the arguments when a policy reads them), and is
// decided as the schema means it even though the decision point evaluates without
// the schema (action groups from the request's own entities); the copy the audit
// log keeps has the arguments' secrets redacted and still conforms.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { grantRequest } from '../delegation/mandates.ts';
import { NEW_TASK_FLOW, UNLABELLED, observe } from '../delegation/task-flow.ts';
import { redactionMarker } from '../audit/redact.ts';
import { PolicyEngine, type AuthorizationRequest } from '../policy/engine.ts';
import type { Agent, Person, Server, Tool } from '../store/types.ts';
import { mapArguments, type ArgumentViews } from './arguments.ts';
import { governedRequest, listingEngine, readsArguments, recordedRequest, setReadsArguments } from './request.ts';
import type { CallerContext } from './session.ts';

const SCHEMA = readFileSync(new URL('../../policies/schema.cedarschema', import.meta.url), 'utf8');
const DEFAULTS = ['gateway.cedar', 'delegation.cedar'].map((f) => ({ origin: f, text: readFileSync(new URL(`../../policies/default/${f}`, import.meta.url), 'utf8') }));

const agent: Agent = {
  id: 'agt_report', name: 'report-bot', spiffeId: 'spiffe://mandate.local/agent/report-bot', owner: 'alice', purpose: 'summarize reports',
  environment: 'prod', status: 'active', reviewDue: 1_900_000_000, keys: [], createdAt: 1_700_000_000, enrolledAt: 1_700_000_000,
};
const alice: Person = { id: 'alice', email: 'alice@example.com', name: null, status: 'active', issuer: null, subject: null, createdAt: 1_700_000_000 };
const server: Server = { name: 'fs', upstream: { transport: 'stdio', command: 'x', args: [] }, environment: 'prod', createdAt: 1_700_000_000 };
const tool: Tool = { server: 'fs', name: 'read_file', sensitivity: 'confidential', effect: 'read', egress: 'internal', labelled: true, firstSeen: 1_700_000_000 };
/** Sunday 2027-01-17 08:00:00 UTC. */
const NOW = Date.UTC(2027, 0, 17, 8, 0, 0) / 1000;

function caller(agents = [agent.spiffeId]): CallerContext {
  return {
    mandateId: 'mnd_1', clientId: agent.spiffeId, scope: ['fs/read_file', 'fs/prompt:*', 'fs/resource:*'], person: 'alice', agents,
    purpose: 'summarize Q3', agent, grantedAt: NOW - 60, expiresAt: NOW + 840,
  };
}

function mapped(value: unknown): ArgumentViews {
  const result = mapArguments(value);
  assert.ok(result.ok);
  return result.views;
}

/** Asks Cedar with the schema, validating the request and its entities against it. */
function validated(request: AuthorizationRequest, policy = 'permit (principal, action, resource);'): cedar.AuthorizationAnswer {
  return cedar.isAuthorized({
    principal: request.principal, action: { type: 'Action', id: request.action }, resource: request.resource, context: request.context,
    entities: request.entities as cedar.Entities, policies: { staticPolicies: { p: policy } }, schema: SCHEMA, validateRequest: true,
  });
}

function assertConforms(request: AuthorizationRequest): void {
  const answer = validated(request);
  assert.equal(answer.type, 'success', JSON.stringify(answer.type === 'failure' ? answer.errors : null));
  if (answer.type === 'success') assert.equal(answer.response.decision, 'allow');
}

const allViews = mapped({ path: '/reports/a', amount: '12.50', n: 3, force: true, to: ['a@example.com'], url: 'https://example.com/', text: 'x' });

describe('gateway requests', () => {
  it('conform to the schema for every method, with and without arguments', () => {
    for (const method of ['tools/call', 'prompts/get', 'resources/read'] as const) {
      const target = method === 'resources/read' ? 'file:///reports/a' : method === 'prompts/get' ? 'summarize' : 'read_file';
      assertConforms(governedRequest(caller(), server, method, target, method === 'tools/call' ? tool : undefined, NOW));
      assertConforms(governedRequest(caller(), server, method, target, method === 'tools/call' ? tool : undefined, NOW, allViews));
    }
    assertConforms(governedRequest(caller(), { ...server, environment: null }, 'tools/call', 'unknown_tool', undefined, NOW, mapped({})));
  });

  it('carry the mandate, the actor chain, the time and what is not tracked yet', () => {
    const chain = [agent.spiffeId, 'spiffe://mandate.local/agent/planner', 'spiffe://mandate.local/agent/root'];
    const { context } = governedRequest(caller(chain), server, 'tools/call', 'read_file', tool, NOW);
    assert.deepEqual(context.person, { __entity: { type: 'Person', id: 'alice' } });
    assert.equal(context.expires_at, NOW + 840);
    assert.deepEqual(context.actors, chain);
    assert.equal(context.delegator, 'spiffe://mandate.local/agent/planner');
    assert.equal(context.depth, 2);
    assert.deepEqual(context.time, { now: NOW, weekday: 7, hour: 8, minute: 0 });
    assert.deepEqual(context.history, { max_sensitivity: 'public', max_sensitivity_level: 0, untrusted: false, tools: [], external: false, destinations: [] });
    assert.equal(context.risk, 0);
    assert.deepEqual(context.approvals, []);
    const direct = governedRequest(caller(), server, 'tools/call', 'read_file', tool, NOW).context;
    assert.equal(direct.depth, 0);
    assert.equal(direct.delegator, '');
  });

  it('label the tool, defaults for an unknown one, and give its sensitivity a level', () => {
    const known = governedRequest(caller(), server, 'tools/call', 'read_file', tool, NOW).entities.find((e) => e.uid.type === 'Tool');
    assert.deepEqual(known?.attrs, { server: 'fs', name: 'read_file', sensitivity: 'confidential', sensitivity_level: 2, effect: 'read', egress: 'internal', first_seen: 1_700_000_000 });
    const unknown = governedRequest(caller(), server, 'tools/call', 'new_tool', undefined, NOW).entities.find((e) => e.uid.type === 'Tool');
    assert.deepEqual(unknown?.attrs, { server: 'fs', name: 'new_tool', sensitivity: 'confidential', sensitivity_level: 2, effect: 'write', egress: 'external', first_seen: NOW });
    assert.deepEqual({ effect: unknown?.attrs.effect, egress: unknown?.attrs.egress }, { effect: UNLABELLED.effect, egress: UNLABELLED.egress }, 'the task flow takes an unlabelled tool\'s effect and egress as the decision does');
    assert.equal(UNLABELLED.sensitivity, 'internal', 'and what it hands back as internal, however the decision guards calling it');
  });

  it('carry the task\'s flow as its history, and still conform', () => {
    const flow = observe(observe(NEW_TASK_FLOW, { method: 'tools/call', call: 'fs/read_file', labels: tool }, 'ok'), { method: 'tools/call', call: 'mail/send' }, 'error');
    const request = governedRequest(caller(), server, 'tools/call', 'read_file', tool, NOW, undefined, flow);
    assert.deepEqual(request.context.history, {
      max_sensitivity: 'confidential', max_sensitivity_level: 2, untrusted: true, tools: ['fs/read_file', 'mail/send'], external: true, destinations: ['mail/send'],
    });
    assertConforms(request);
  });

  it('are decided by their action group without the schema', () => {
    const engine = PolicyEngine.load([...DEFAULTS, { origin: 'groups.cedar', text: '@id("no-gateway-at-8") forbid (principal, action in Action::"gateway", resource) when { context.time.hour == 8 };' }], SCHEMA);
    for (const method of ['tools/call', 'prompts/get', 'resources/read'] as const) {
      const decision = engine.decide(governedRequest(caller(), server, method, method === 'resources/read' ? 'file:///a' : 'read_file', tool, NOW));
      assert.deepEqual([decision.decision, decision.policies, decision.errors], ['deny', ['no-gateway-at-8'], []], method);
      assert.equal(engine.decide(governedRequest(caller(), server, method, method === 'resources/read' ? 'file:///a' : 'read_file', tool, NOW + 3600)).decision, 'allow');
    }
  });
});

describe('grant requests', () => {
  it('conform to the schema, with the owner among the entities when another person grants', () => {
    assertConforms(grantRequest(alice, alice, agent, { purpose: 'p', scope: ['fs/read_file'], ttl: 900 }, NOW));
    const carol: Person = { ...alice, id: 'carol', email: null };
    const request = grantRequest(carol, alice, agent, { purpose: 'p', scope: ['fs/read_file'], ttl: 900 }, NOW);
    assertConforms(request);
    assert.deepEqual(request.entities.map((e) => `${e.uid.type}::${e.uid.id}`), ['Person::carol', 'Person::alice', 'Agent::agt_report', 'Action::mandate/grant']);
    const unknownOwner = grantRequest(carol, null, agent, { purpose: 'p', scope: [], ttl: 60 }, NOW);
    assert.deepEqual(unknownOwner.entities[1]?.attrs, { status: 'deactivated' });
  });

  it('are decided by the delegation group without the schema', () => {
    const engine = PolicyEngine.load([...DEFAULTS, { origin: 'g.cedar', text: '@id("no-weekend-grants") forbid (principal, action in Action::"delegation", resource) when { context.time.weekday >= 6 };' }], SCHEMA);
    const sunday = engine.decide(grantRequest(alice, alice, agent, { purpose: 'p', scope: ['fs/read_file'], ttl: 900 }, NOW));
    assert.deepEqual([sunday.decision, sunday.policies], ['deny', ['no-weekend-grants']]);
    const monday = engine.decide(grantRequest(alice, alice, agent, { purpose: 'p', scope: ['fs/read_file'], ttl: 900 }, NOW + 86_400));
    assert.deepEqual([monday.decision, monday.policies], ['allow', ['owner-may-grant']]);
  });
});

describe('which policies read arguments', () => {
  const engine = (text: string) => PolicyEngine.load([...DEFAULTS, { origin: 'x.cedar', text }], SCHEMA);

  it('is found in the policies themselves, escapes decoded', () => {
    assert.equal(setReadsArguments(PolicyEngine.load(DEFAULTS, SCHEMA)), false);
    assert.equal(setReadsArguments(engine('forbid (principal, action in Action::"gateway", resource) when { context.arguments.hasTag("x") };')), true);
    assert.equal(setReadsArguments(engine('forbid (principal, action in Action::"gateway", resource) when { context["argum\\u{65}nts"].hasTag("x") };')), true);
    assert.equal(setReadsArguments(engine('forbid (principal, action, resource) when { ArgumentPaths::"request".hasTag("x") };')), true);
  });

  it('sets aside forbids that read arguments for listings, and keeps everything else', () => {
    const set = engine('@id("f") forbid (principal, action in Action::"gateway", resource) unless { context.arguments.hasTag("x") };\n@id("p") permit (principal, action in Action::"gateway", resource) when { context.arguments.hasTag("x") };');
    const listing = listingEngine(set);
    assert.deepEqual(listing.policies.map((p) => p.id).sort(), [...set.policies.map((p) => p.id).filter((id) => id !== 'f')].sort());
    assert.equal(listingEngine(set), listing, 'worked out once per set');
    const plain = PolicyEngine.load(DEFAULTS, SCHEMA);
    assert.equal(listingEngine(plain), plain);
    assert.ok(readsArguments(set.policies.find((p) => p.id === 'p') as never));
  });

  it('sets aside approval policies for listings: what needs approval is listed', () => {
    const set = engine('@id("ask") @approval("owner") forbid (principal, action == Action::"tools/call", resource) when { context.call == "fs/read_file" };\n@id("no") forbid (principal, action == Action::"tools/call", resource) when { context.call == "fs/write_file" };');
    assert.deepEqual(listingEngine(set).policies.map((p) => p.id).filter((id) => id === 'ask' || id === 'no'), ['no']);
    const listed = (name: string) => listingEngine(set).decide(governedRequest({ ...caller(), scope: ['fs/*'] }, { ...server, environment: null }, 'tools/call', name, { ...tool, name }, NOW)).decision;
    assert.deepEqual([listed('read_file'), listed('write_file')], ['allow', 'deny']);
  });
});

describe('the request as recorded', () => {
  const key = `AKIA${'Q7'.repeat(8)}`;
  const views = mapped({
    path: '/reports/a', note: `use ${key}`, password: 'hunter2', db: { password: 's3cret', port: 5432 }, pin: { token: 1234 },
    hosts: ['https://ci:hunter2@ci.example.com/'], amount: '12.50', force: true,
  });

  it('redacts the argument values, keeps what holds no secret, and still conforms to the schema', () => {
    const asked = governedRequest(caller(), server, 'tools/call', 'read_file', tool, NOW, views);
    const { request, found } = recordedRequest(asked);
    assert.deepEqual(found, ['aws_access_key_id', 'password', 'secret_field', 'url_password']);
    const tags = (type: string) => ({ ...request.entities.find((e) => e.uid.type === type)?.tags });
    assert.deepEqual(tags('Arguments'), {
      path: '/reports/a', note: `use ${redactionMarker('aws_access_key_id')}`, password: redactionMarker('password'), 'db.password': redactionMarker('password'),
      'hosts.0': `https://ci:${redactionMarker('url_password')}@ci.example.com/`, amount: '12.50',
    });
    assert.deepEqual(tags('ArgumentNumbers'), { 'db.port': 5432 }, 'a number under a secret\'s name is left out');
    assert.deepEqual(tags('ArgumentPaths'), { path: '/reports/a' });
    assert.deepEqual(tags('ArgumentBooleans'), { force: true });
    assert.deepEqual(tags('ArgumentUrlHosts'), { hosts: ['ci.example.com'] });
    assertConforms(request);
    assert.doesNotMatch(JSON.stringify(request), /hunter2|s3cret|AKIA/);
    assert.match(JSON.stringify(asked), /hunter2/, 'the request decided on is not touched');
  });

  it('redacts credentials in a resource URI, and is the same request when there is nothing to redact', () => {
    const asked = governedRequest(caller(), server, 'resources/read', 'postgres://app:hunter2@db.internal/orders', undefined, NOW);
    const { request, found } = recordedRequest(asked);
    assert.deepEqual(found, ['url_password']);
    assert.deepEqual(request.resource, { type: 'Resource', id: `fs/postgres://app:${redactionMarker('url_password')}@db.internal/orders` });
    assert.equal(request.entities.find((e) => e.uid.type === 'Resource')?.attrs.uri, `postgres://app:${redactionMarker('url_password')}@db.internal/orders`);
    assertConforms(request);
    const plain = governedRequest(caller(), server, 'tools/call', 'read_file', tool, NOW, mapped({ path: '/reports/a' }));
    assert.deepEqual(recordedRequest(plain), { request: plain, found: [] });
  });
});
