// The request cut down to what a policy set reads: what each kind of policy keeps,
// and, over many sets and requests, the very same decisions, reasons and errors as
// the whole request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { mapArguments } from '../gateway/arguments.ts';
import { governedRequest } from '../gateway/request.ts';
import type { CallerContext } from '../gateway/session.ts';
import type { Agent, Server, Tool } from '../store/types.ts';
import { PolicyEngine, type AuthorizationRequest } from './engine.ts';
import { policyReads, project } from './projection.ts';
import { DecisionPoint } from './decision-point.ts';
import { splitPolicies } from './policy-set.ts';

const SCHEMA = readFileSync(new URL('../../policies/schema.cedarschema', import.meta.url), 'utf8');
const DEFAULTS = ['gateway.cedar', 'delegation.cedar'].map((f) => readFileSync(new URL(`../../policies/default/${f}`, import.meta.url), 'utf8')).join('\n');

const agent: Agent = {
  id: 'agt_1', name: 'report-bot', spiffeId: 'spiffe://mandate.local/agent/report-bot', owner: 'alice', purpose: 'reports',
  environment: 'dev', status: 'active', reviewDue: null, keys: [], createdAt: 0, enrolledAt: 0,
};
const servers: Server[] = [
  { name: 'fs', upstream: { transport: 'stdio', command: 'x', args: [] }, environment: null, createdAt: 0 },
  { name: 'prod-db', upstream: { transport: 'stdio', command: 'x', args: [] }, environment: 'prod', createdAt: 0 },
];
const tool = (server: string, name: string, sensitivity: Tool['sensitivity'] = 'internal'): Tool => ({ server, name, sensitivity, effect: 'read', egress: 'external', labelled: true, firstSeen: 100 });
const NOW = Date.UTC(2027, 0, 18, 10, 30, 5) / 1000; // a Monday

function caller(over: Partial<CallerContext> = {}): CallerContext {
  return { mandateId: 'mnd_1', clientId: agent.spiffeId, scope: ['fs/read_file'], person: 'alice', agents: [agent.spiffeId], purpose: 'p', agent, grantedAt: 200, expiresAt: NOW + 600, ...over };
}

const args = (value: unknown) => {
  const mapped = mapArguments(value);
  assert.ok(mapped.ok);
  return mapped.views;
};

/** Many requests: methods, servers, scopes, times, actors, arguments. */
function requests(): AuthorizationRequest[] {
  const found: AuthorizationRequest[] = [];
  for (const server of servers) {
    for (const scope of [['fs/read_file'], [`${server.name}/*`], []]) {
      for (const now of [NOW, NOW + 5 * 3600, NOW + 6 * 86_400]) {
        for (const agents of [[agent.spiffeId], [agent.spiffeId, 'spiffe://mandate.local/agent/planner']]) {
          const c = caller({ scope, agents, agent: { ...agent, status: now === NOW ? 'active' : 'suspended' } });
          found.push(governedRequest(c, server, 'tools/call', 'read_file', tool(server.name, 'read_file'), now));
          found.push(governedRequest(c, server, 'tools/call', 'vault', tool(server.name, 'vault', 'secret'), now, args({ path: '/reports/../etc/x', amount: 5 })));
          found.push(governedRequest(c, server, 'tools/call', 'read_file', tool(server.name, 'read_file'), now, args({ path: '/reports/q3.txt', amount: '1200.00', to: ['a@example.com'] })));
          found.push(governedRequest(c, server, 'prompts/get', 'summarize', undefined, now, args({})));
          found.push(governedRequest(c, server, 'resources/read', 'file:///etc/passwd', undefined, now));
        }
      }
    }
  }
  return found;
}

const SETS: Record<string, string> = {
  defaults: DEFAULTS,
  'arguments and time': `${DEFAULTS}
@id("reports") forbid (principal, action == Action::"tools/call", resource) unless { context.arguments.paths.hasTag("path") && context.arguments.paths.getTag("path") like "/reports/*" };
@id("amount") forbid (principal, action == Action::"tools/call", resource) when { context.arguments.decimals.hasTag("amount") && context.arguments.decimals.getTag("amount").greaterThan(decimal("1000.0")) };
@id("hours") forbid (principal, action in Action::"gateway", resource) when { context.server_environment == "prod" } unless { context.time.weekday <= 5 && context.time.hour >= 9 && context.time.hour < 17 };`,
  'whole records and has': `${DEFAULTS}
@id("whole-time") permit (principal, action == Action::"tools/call", resource) when { context.time == {"now": ${NOW}, "weekday": 1, "hour": 10, "minute": 30} };
@id("has") forbid (principal, action == Action::"prompts/get", resource) when { context has history.tools && context.history.tools.isEmpty() && context.depth > 0 };
@id("owner") permit (principal, action == Action::"resources/read", resource) when { principal.owner == context.person && context.person.status == "active" };`,
  'whole context': `${DEFAULTS}
@id("ctx") forbid (principal, action == Action::"tools/call", resource) when { [context].contains(context) && principal.name == "nobody" };`,
  'entity literals and errors': `${DEFAULTS}
@id("literal") forbid (principal, action == Action::"tools/call", resource) when { ArgumentNumbers::"request".hasTag("amount") && ArgumentNumbers::"request".getTag("amount") > 1 };
@id("error") forbid (principal, action == Action::"tools/call", resource) when { context.depth > 0 && context.time.now * 10000000000 > 0 };
@id("sensitivity") forbid (principal, action == Action::"tools/call", resource is Tool) when { resource.sensitivity_level >= 3 && context.history.max_sensitivity_level < 1 };`,
};

describe('request projection', () => {
  it('keeps only what the default policies read: no time, mandate, purpose or agent name', () => {
    const reads = policyReads(splitPolicies([{ origin: 'd', text: DEFAULTS }]));
    const full = governedRequest(caller(), servers[0] as Server, 'tools/call', 'read_file', tool('fs', 'read_file'), NOW);
    const cut = project(full, reads);
    assert.deepEqual(Object.keys(cut.context).sort(), ['call', 'granted_at', 'kind_wildcard', 'scope', 'server_environment', 'server_wildcard']);
    const agentAttrs = cut.entities.find((e) => e.uid.type === 'Agent')?.attrs;
    assert.deepEqual(Object.keys(agentAttrs ?? {}).sort(), ['environment', 'owner', 'status']);
    assert.ok(cut.entities.some((e) => e.uid.type === 'Action' && e.parents[0]?.id === 'gateway'), 'the action keeps its group');
    assert.ok(JSON.stringify(cut).length < JSON.stringify(full).length / 1.5);
    // The same call a second later, or under another mandate, is the same request: remembered.
    assert.equal(JSON.stringify(project(governedRequest(caller({ mandateId: 'mnd_2' }), servers[0] as Server, 'tools/call', 'read_file', tool('fs', 'read_file'), NOW + 1), reads)), JSON.stringify(cut));
  });

  it('keeps the parts of a record a policy reads, and a record read whole', () => {
    const hours = policyReads(splitPolicies([{ origin: 'h', text: SETS['arguments and time'] as string }]));
    const full = governedRequest(caller(), servers[1] as Server, 'tools/call', 'read_file', tool('prod-db', 'read_file'), NOW, args({ path: '/a', n: 1 }));
    assert.deepEqual(project(full, hours).context.time, { weekday: 1, hour: 10 });
    assert.deepEqual(project(full, hours).entities.map((e) => e.uid.type).filter((t) => t.startsWith('Argument')), ['Arguments', 'ArgumentDecimals', 'ArgumentPaths'], 'views no policy reads are left out');
    const whole = policyReads(splitPolicies([{ origin: 'w', text: SETS['whole records and has'] as string }]));
    assert.deepEqual(project(full, whole).context.time, full.context.time);
    assert.deepEqual(project(full, whole).context.history, { tools: [] }, '`context has history.tools` and `context.history.tools` read the tools');
    assert.deepEqual(project(full, policyReads(splitPolicies([{ origin: 'c', text: SETS['whole context'] as string }]))).context, full.context);
  });

  for (const [name, text] of Object.entries(SETS)) {
    it(`decides exactly as the whole request: ${name}`, () => {
      const engine = PolicyEngine.load([{ origin: `${name}.cedar`, text }], SCHEMA);
      // The whole request, asked of a decision point of its own (the engine cuts what it is asked).
      const other = new DecisionPoint(engine.set);
      const outcomes = new Set<string>();
      for (const request of requests()) {
        const whole = other.decide(request);
        const cut = engine.decide(request);
        // Which policy failed, not the wording (in-process evaluation and cedar-wasm word errors differently).
        const failed = (errors: string[]) => errors.map((e) => e.slice(0, e.indexOf(':')));
        assert.deepEqual({ ...cut, errors: failed(cut.errors) }, { ...whole, errors: failed(whole.errors) }, JSON.stringify(request));
        outcomes.add(`${whole.decision} ${whole.policies.join(',')} ${whole.errors.length > 0 ? 'errors' : ''}`);
      }
      assert.ok(outcomes.size >= 3, `the requests exercise the set: ${[...outcomes].join(' | ')}`);
    });
  }
});
