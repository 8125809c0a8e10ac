// The organisation the policy benchmark decides for, generated from a seed: teams of
// agents, servers of tools, a Cedar policy set of a given size written against them,
// and an endless stream of distinct `tools/call` requests. Every policy is built as
// one rule that is rendered twice — as Cedar for Mandate and plain cedar-wasm, and as
// a rule of a Cerbos resource policy — so both engines are given the same logic.
//
//   Cedar                                 Cerbos: one resource policy per server, kind "tool:<server>"
//   permit (principal == Agent::"a", …)   roles: ["agent:a"]   (each agent holds a role of its own)
//   permit (principal in Team::"t", …)    roles: ["team:t"]    (and one per team it is in)
//   forbid (principal == Agent::"a", …)   roles: ["*"], condition P.id == "a"
//   forbid (principal in Team::"t", …)    roles: ["*"], condition "t" in P.attr.teams
//   principal / principal is Agent        roles: ["*"]
//   resource in Server::"s"               a rule of server s's policy only
//   resource == Tool::"s/t"               a rule of server s's policy, condition R.id == "s/t"
//   resource / resource is Tool           a rule of every server's policy
//   when { c } unless { u }               condition c && !(u), c and u written in CEL
//   principal.x / resource.x              P.attr.x / R.attr.x
//   context.{mandate,purpose,scope,granted_at}                       P.attr.… (the mandate is the caller's)
//   context.{call,kind_wildcard,server_wildcard,server_environment}  R.attr.… (they name the request)
//   permit / forbid                       EFFECT_ALLOW / EFFECT_DENY
//
// Forbids hold every role because Cerbos decides per role and allows when any of
// the principal's roles is allowed: a DENY under the team's role alone would be
// overruled by an ALLOW under the agent's own role, where in Cedar a forbid always
// wins. With every DENY under "*", a matching forbid denies under each role, so both
// engines allow exactly when some permit matches and no forbid does. A resource kind
// per server is how Cerbos narrows the rules it evaluates (it indexes by kind, action
// and role, not by resource id): the counterpart of the decision point's slices.
import type { AuthorizationRequest, EntityRecord, PolicySource } from '../src/policy/engine.ts';
import { governedRequest } from '../src/gateway/request.ts';
import { prng } from '../src/lib/prng.ts';
import type { Agent, Effect, Egress, Environment, Sensitivity, Server, Tool } from '../src/store/types.ts';

/** A fixed "now" (seconds since the epoch): the world and its requests never read the clock. */
export const NOW = 1_800_000_000;
const DAY = 86_400;

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
/** Skewed toward the first items (a few hot agents, many quiet ones). */
const pickSkewed = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() ** 2 * items.length)] as T;
const weighted = <T>(random: Random, choices: ReadonlyArray<readonly [T, number]>): T => {
  let r = random() * choices.reduce((n, [, w]) => n + w, 0);
  for (const [value, w] of choices) if ((r -= w) < 0) return value;
  return (choices.at(-1) as readonly [T, number])[0];
};

export interface OrgTeam { id: string; environment: Environment; servers: string[] }
export interface OrgAgent { agent: Agent; teams: string[] }
export interface OrgServer { server: Server; tools: Tool[] }

// ---- rules, rendered to Cedar and to Cerbos ----

/** One condition, in both languages. */
interface Cond { cedar: string; cel: string }
type PrincipalScope = { kind: 'any' } | { kind: 'agent'; id: string } | { kind: 'team'; id: string };
type ResourceScope = { kind: 'any' } | { kind: 'tool'; id: string } | { kind: 'server'; name: string };

export interface Rule {
  id: string;
  effect: 'permit' | 'forbid';
  principal: PrincipalScope;
  resource: ResourceScope;
  when: Cond[];
  unless: Cond[];
}

const str = (s: string): string => JSON.stringify(s);
const num = (n: number): { cedar: string; cel: string } => ({ cedar: String(n), cel: `${n}.0` }); // Cerbos attributes are JSON numbers (doubles)
const C = {
  callInScope: { cedar: 'context.scope.contains(context.call)', cel: 'R.attr.call in P.attr.scope' },
  serverInScope: { cedar: 'context.scope.contains(context.server_wildcard)', cel: 'R.attr.server_wildcard in P.attr.scope' },
  callOrServerInScope: { cedar: 'context.scope.containsAny([context.call, context.server_wildcard])', cel: '(R.attr.call in P.attr.scope || R.attr.server_wildcard in P.attr.scope)' },
  active: { cedar: 'principal.status == "active"', cel: 'P.attr.status == "active"' },
  environmentMismatch: {
    cedar: 'context.server_environment != "" && context.server_environment != principal.environment',
    cel: 'R.attr.server_environment != "" && R.attr.server_environment != P.attr.environment',
  },
  toolNewerThanMandate: { cedar: 'resource.first_seen > context.granted_at', cel: 'R.attr.first_seen > P.attr.granted_at' },
  grantedBefore: (t: number): Cond => ({ cedar: `context.granted_at < ${num(t).cedar}`, cel: `P.attr.granted_at < ${num(t).cel}` }),
  purposeMentions: (word: string): Cond => ({ cedar: `context.purpose like ${str(`*${word}*`)}`, cel: `P.attr.purpose.contains(${str(word)})` }),
  is: (attr: 'sensitivity' | 'effect' | 'egress', value: string): Cond => ({ cedar: `resource.${attr} == ${str(value)}`, cel: `R.attr.${attr} == ${str(value)}` }),
  isNot: (attr: 'sensitivity' | 'effect' | 'egress', value: string): Cond => ({ cedar: `resource.${attr} != ${str(value)}`, cel: `R.attr.${attr} != ${str(value)}` }),
  isOneOf: (attr: 'sensitivity' | 'effect', values: string[]): Cond => ({
    cedar: `[${values.map(str).join(', ')}].contains(resource.${attr})`, cel: `R.attr.${attr} in [${values.map(str).join(', ')}]`,
  }),
  agentEnvironment: (env: Environment): Cond => ({ cedar: `principal.environment == ${str(env)}`, cel: `P.attr.environment == ${str(env)}` }),
  not: (c: Cond): Cond => ({ cedar: `!(${c.cedar})`, cel: `!(${c.cel})` }),
};

export function ruleToCedar(rule: Rule): string {
  const principal = rule.principal.kind === 'agent' ? `principal == Agent::${str(rule.principal.id)}`
    : rule.principal.kind === 'team' ? `principal in Team::${str(rule.principal.id)}` : 'principal';
  const resource = rule.resource.kind === 'tool' ? `resource == Tool::${str(rule.resource.id)}`
    : rule.resource.kind === 'server' ? `resource in Server::${str(rule.resource.name)}` : 'resource';
  let text = `@id(${str(rule.id)})\n${rule.effect} (${principal}, action == Action::"tools/call", ${resource})`;
  if (rule.when.length) text += `\nwhen { ${rule.when.map((c) => c.cedar).join(' && ')} }`;
  if (rule.unless.length) text += `\nunless { ${rule.unless.map((c) => c.cedar).join(' && ')} }`;
  return `${text};\n`;
}

/** The rule as one entry of server `server`'s Cerbos resource policy. */
export function ruleToCerbos(rule: Rule, server: string): Record<string, unknown> {
  const forbid = rule.effect === 'forbid';
  const parts: string[] = [];
  let roles = ['*'];
  if (rule.principal.kind === 'agent') {
    if (forbid) parts.push(`P.id == ${str(rule.principal.id)}`);
    else roles = [`agent:${rule.principal.id}`];
  } else if (rule.principal.kind === 'team') {
    if (forbid) parts.push(`${str(rule.principal.id)} in P.attr.teams`);
    else roles = [`team:${rule.principal.id}`];
  }
  if (rule.resource.kind === 'tool') parts.push(`R.id == ${str(rule.resource.id)}`);
  if (rule.resource.kind === 'server' && rule.resource.name !== server) throw new Error(`${rule.id} is not a rule of ${server}`);
  parts.push(...rule.when.map((c) => c.cel));
  if (rule.unless.length) parts.push(`!(${rule.unless.map((c) => c.cel).join(' && ')})`);
  return {
    name: rule.id, actions: ['tools/call'], effect: forbid ? 'EFFECT_DENY' : 'EFFECT_ALLOW', roles,
    ...(parts.length ? { condition: { match: { expr: parts.join(' && ') } } } : {}),
  };
}

/** The Cerbos resource kind of a server's tools. */
export const cerbosKind = (server: string): string => `tool:${server}`;

/**
 * The set as Cerbos resource policies, one per server (file name → text; YAML is a
 * superset of JSON, so JSON it is), and how many rules they hold in all.
 */
export function cerbosPolicies(world: World): { files: Map<string, string>; rules: number } {
  const files = new Map<string, string>();
  let count = 0;
  for (const { server } of world.servers) {
    const rules = world.rules.filter((r) => r.resource.kind === 'any'
      || (r.resource.kind === 'server' && r.resource.name === server.name)
      || (r.resource.kind === 'tool' && r.resource.id.startsWith(`${server.name}/`)));
    count += rules.length;
    const policy = { apiVersion: 'api.cerbos.dev/v1', resourcePolicy: { version: 'default', resource: cerbosKind(server.name), rules: rules.map((r) => ruleToCerbos(r, server.name)) } };
    files.set(`${server.name}.yaml`, JSON.stringify(policy, null, 1));
  }
  return { files, rules: count };
}

// ---- the organisation ----

const VERBS: ReadonlyArray<readonly [string, Effect]> = [
  ['get', 'read'], ['list', 'read'], ['search', 'read'], ['read', 'read'], ['query', 'read'], ['describe', 'read'],
  ['create', 'write'], ['update', 'write'], ['send', 'write'], ['comment', 'write'], ['deploy', 'write'],
  ['delete', 'destructive'], ['drop', 'destructive'], ['revoke', 'destructive'],
];
const NOUNS = ['issue', 'file', 'invoice', 'customer', 'ticket', 'branch', 'table', 'message', 'secret', 'build', 'alert', 'report', 'user', 'page', 'dataset'];
const PURPOSES = [
  'triage incident INC-4211', 'weekly revenue report', 'deploy change CHG-1187', 'answer support ticket', 'incident follow-up for INC-4198',
  'quarterly access review', 'refactor billing module', 'prepare release notes', 'rotate credentials under change CHG-1190', 'customer onboarding',
];
const SYSTEMS = ['github', 'jira', 'postgres', 'slack', 'stripe', 'salesforce', 'notion', 'gdrive', 'k8s', 'pagerduty', 'snowflake', 'zendesk', 'vault', 'datadog', 'confluence'];

export interface World {
  size: number;
  seed: number;
  teams: OrgTeam[];
  agents: OrgAgent[];
  servers: OrgServer[];
  tools: Tool[];
  rules: Rule[];
  /** The set as policy files, one policy each (an organisation keeps many small files). */
  sources: PolicySource[];
}

/** An organisation scaled to `size` policies and a policy set of exactly that many. */
export function generateWorld(size: number, seed = 20_260_101): World {
  const random = prng(seed ^ Math.imul(size, 2_654_435_761));
  const teamCount = Math.max(2, Math.round(size / 40));
  const agentCount = Math.max(4, Math.round(size / 4));
  const serverCount = Math.max(3, Math.round(Math.sqrt(size) * 1.2));

  const servers: OrgServer[] = Array.from({ length: serverCount }, (_, i) => {
    const name = `${SYSTEMS[i % SYSTEMS.length]}${i >= SYSTEMS.length ? `-${Math.floor(i / SYSTEMS.length)}` : ''}`;
    const environment = weighted<Environment | null>(random, [['prod', 45], ['staging', 15], ['dev', 10], [null, 30]]);
    const toolCount = 4 + Math.floor(random() * 13);
    const names = new Set<string>();
    while (names.size < toolCount) {
      const [verb] = pick(random, VERBS);
      names.add(`${verb}_${pick(random, NOUNS)}`);
    }
    const tools = [...names].map((toolName): Tool => ({
      server: name, name: toolName, labelled: true,
      effect: (VERBS.find(([v]) => toolName.startsWith(`${v}_`)) as readonly [string, Effect])[1],
      sensitivity: weighted<Sensitivity>(random, [['public', 25], ['internal', 42], ['confidential', 27], ['secret', 6]]),
      egress: weighted<Egress>(random, [['internal', 70], ['external', 30]]),
      // Most tools are old; one in ten appeared in the last week.
      firstSeen: random() < 0.1 ? NOW - Math.floor(random() * 7 * DAY) : NOW - 30 * DAY - Math.floor(random() * 180 * DAY),
    }));
    return { server: { name, upstream: { transport: 'stdio', command: 'mcp-server', args: [] }, environment, createdAt: NOW - 365 * DAY }, tools };
  });
  const tools = servers.flatMap((s) => s.tools);
  const serverNames = servers.map((s) => s.server.name);

  // A team works in one environment, mostly on servers of it (or of any).
  const teams: OrgTeam[] = Array.from({ length: teamCount }, (_, i) => {
    const environment = weighted<Environment>(random, [['prod', 50], ['staging', 25], ['dev', 25]]);
    const fitting = servers.filter((s) => [null, environment].includes(s.server.environment)).map((s) => s.server.name);
    const home = new Set<string>();
    const want = Math.min(serverCount, 2 + Math.floor(random() * 4));
    while (home.size < want) home.add(pick(random, fitting.length > 0 && random() < 0.85 ? fitting : serverNames));
    return { id: `team-${String(i).padStart(3, '0')}`, environment, servers: [...home] };
  });
  const agents: OrgAgent[] = Array.from({ length: agentCount }, (_, i) => {
    const id = `agent-${String(i).padStart(5, '0')}`;
    const primary = pick(random, teams);
    const second = random() < 0.2 ? pick(random, teams) : primary;
    const agent: Agent = {
      id, name: id, spiffeId: `spiffe://example.org/agent/${id}`, owner: `person-${Math.floor(random() * agentCount / 2)}`, purpose: 'work',
      environment: random() < 0.9 ? primary.environment : weighted<Environment>(random, [['prod', 50], ['staging', 25], ['dev', 25]]),
      status: random() < 0.04 ? 'suspended' : 'active', reviewDue: null, keys: [], createdAt: NOW - 100 * DAY, enrolledAt: NOW - 100 * DAY,
    };
    return { agent, teams: [...new Set([primary.id, second.id])] };
  });

  const teamById = new Map(teams.map((t) => [t.id, t]));
  const homeServers = (a: OrgAgent): string[] => [...new Set(a.teams.flatMap((t) => (teamById.get(t) as OrgTeam).servers))];
  const toolsOf = (server: string): Tool[] => (servers.find((s) => s.server.name === server) as OrgServer).tools;
  const fits = (a: OrgAgent, server: string): boolean => [null, a.agent.environment].includes((servers.find((s) => s.server.name === server) as OrgServer).server.environment);
  const homeTool = (a: OrgAgent): Tool => {
    if (random() >= 0.85) return pick(random, tools);
    const home = homeServers(a);
    const fitting = home.filter((s) => fits(a, s));
    return pick(random, toolsOf(pick(random, fitting.length > 0 && random() < 0.9 ? fitting : home)));
  };
  const toolId = (t: Tool): string => `${t.server}/${t.name}`;

  // Organisation-wide rules (principal and resource unconstrained or only typed): always present.
  const rules: Rule[] = [
    { id: 'agent-must-be-active', effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [], unless: [C.active] },
    { id: 'environment-must-match', effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.environmentMismatch], unless: [] },
    { id: 'secret-tools-need-an-incident', effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.is('sensitivity', 'secret')], unless: [C.purposeMentions('incident')] },
    { id: 'new-tools-must-be-named', effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.toolNewerThanMandate, C.not(C.callInScope)], unless: [] },
    { id: 'mandates-older-than-a-week', effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.grantedBefore(NOW - 7 * DAY)], unless: [] },
    { id: 'destructive-in-prod-needs-a-change', effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.is('effect', 'destructive'), { cedar: 'context.server_environment == "prod"', cel: 'R.attr.server_environment == "prod"' }], unless: [C.purposeMentions('change')] },
    { id: 'public-reads-on-granted-servers', effect: 'permit', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.is('sensitivity', 'public'), C.is('effect', 'read'), C.serverInScope], unless: [] },
    { id: 'named-reads', effect: 'permit', principal: { kind: 'any' }, resource: { kind: 'any' }, when: [C.callInScope, C.is('effect', 'read'), C.isOneOf('sensitivity', ['public', 'internal'])], unless: [] },
  ];
  const kinds: ReadonlyArray<readonly [string, number]> = [
    ['agent-tool-permit', 33], ['agent-server-permit', 13], ['team-server-permit', 20], ['team-tool-permit', 9],
    ['team-server-forbid', 5], ['agent-tool-forbid', 4], ['server-rotation-forbid', 2], ['team-egress-forbid', 2],
    ['agent-any-tool-permit', 5], ['tool-anyone-permit', 4], ['tool-dev-forbid', 3],
  ];
  for (let n = rules.length; n < size; n++) {
    const kind = weighted(random, kinds);
    const id = `${kind}-${String(n).padStart(5, '0')}`;
    const a = pick(random, agents);
    const team = pick(random, teams);
    const teamServer = pick(random, team.servers);
    const tool = homeTool(a);
    let rule: Omit<Rule, 'id'>;
    switch (kind) {
      case 'agent-tool-permit':
        rule = { effect: 'permit', principal: { kind: 'agent', id: a.agent.id }, resource: { kind: 'tool', id: toolId(tool) }, when: [C.callInScope, ...(random() < 0.3 ? [C.isNot('egress', 'external')] : [])], unless: [] };
        break;
      case 'agent-server-permit':
        rule = { effect: 'permit', principal: { kind: 'agent', id: a.agent.id }, resource: { kind: 'server', name: pick(random, homeServers(a)) }, when: [C.serverInScope, C.isNot('effect', 'destructive')], unless: [] };
        break;
      case 'team-server-permit':
        rule = {
          effect: 'permit', principal: { kind: 'team', id: team.id }, resource: { kind: 'server', name: teamServer },
          when: [C.callInScope, ...(random() < 0.5 ? [C.isOneOf('effect', ['read', 'write'])] : []), ...(random() < 0.4 ? [C.isOneOf('sensitivity', ['public', 'internal', 'confidential'])] : [])], unless: [],
        };
        break;
      case 'team-tool-permit':
        rule = { effect: 'permit', principal: { kind: 'team', id: team.id }, resource: { kind: 'tool', id: toolId(pick(random, toolsOf(teamServer))) }, when: [C.callOrServerInScope], unless: [] };
        break;
      case 'team-server-forbid':
        rule = { effect: 'forbid', principal: { kind: 'team', id: team.id }, resource: { kind: 'server', name: teamServer }, when: [C.isOneOf('sensitivity', ['confidential', 'secret']), C.agentEnvironment('dev')], unless: [] };
        break;
      case 'agent-tool-forbid':
        rule = { effect: 'forbid', principal: { kind: 'agent', id: a.agent.id }, resource: { kind: 'tool', id: toolId(tool) }, when: random() < 0.5 ? [C.is('egress', 'external')] : [], unless: [] };
        break;
      case 'server-rotation-forbid':
        rule = { effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'server', name: pick(random, serverNames) }, when: [C.grantedBefore(NOW - Math.floor((2 + random() * 8) * DAY))], unless: [] };
        break;
      case 'team-egress-forbid':
        rule = { effect: 'forbid', principal: { kind: 'team', id: team.id }, resource: { kind: 'any' }, when: [C.is('egress', 'external'), C.isOneOf('sensitivity', ['confidential', 'secret'])], unless: [C.purposeMentions(pick(random, ['incident', 'customer', 'report']))] };
        break;
      case 'agent-any-tool-permit':
        rule = { effect: 'permit', principal: { kind: 'agent', id: a.agent.id }, resource: { kind: 'any' }, when: [C.is('effect', 'read'), C.serverInScope], unless: [] };
        break;
      case 'tool-anyone-permit':
        rule = { effect: 'permit', principal: { kind: 'any' }, resource: { kind: 'tool', id: toolId(pick(random, tools)) }, when: [C.isNot('sensitivity', 'secret'), C.callInScope], unless: [] };
        break;
      default: // tool-dev-forbid
        rule = { effect: 'forbid', principal: { kind: 'any' }, resource: { kind: 'tool', id: toolId(pick(random, tools)) }, when: [C.agentEnvironment('dev'), C.isNot('effect', 'read')], unless: [] };
    }
    rules.push({ id, ...rule });
  }
  return { size, seed, teams, agents, servers, tools, rules, sources: rules.map((r) => ({ origin: `${r.id}.cedar`, text: ruleToCedar(r) })) };
}

/** The product schema with the teams the benchmark's organisation puts its agents in. */
export function benchSchema(productSchema: string): string {
  const marker = 'entity Agent {';
  if (!productSchema.includes(marker)) throw new Error(`the product schema no longer declares "${marker}": update bench/policy-world.ts`);
  return productSchema.replace(marker, 'entity Team;\n\nentity Agent in [Team] {');
}

// ---- requests ----

export interface BenchRequest {
  cedar: AuthorizationRequest;
  /** The same request as a Cerbos CheckResources principal and resource. */
  cerbos: { principal: { id: string; roles: string[]; attr: Record<string, unknown> }; resource: { kind: string; id: string; attr: Record<string, unknown> } };
}

interface Lookup {
  teams: Map<string, OrgTeam>;
  servers: Map<string, OrgServer>;
  members: Map<string, OrgAgent[]>;
  agents: Map<string, OrgAgent>;
  tools: Map<string, Tool>;
  /** Permits naming an agent, a team or a tool: the grants agents mostly act within. */
  grants: Rule[];
}
const lookups = new WeakMap<World, Lookup>();
function lookup(world: World): Lookup {
  let found = lookups.get(world);
  if (!found) {
    const members = new Map<string, OrgAgent[]>(world.teams.map((t) => [t.id, []]));
    for (const a of world.agents) for (const t of a.teams) members.get(t)?.push(a);
    found = {
      teams: new Map(world.teams.map((t) => [t.id, t])), servers: new Map(world.servers.map((s) => [s.server.name, s])), members,
      agents: new Map(world.agents.map((a) => [a.agent.id, a])), tools: new Map(world.tools.map((t) => [`${t.server}/${t.name}`, t])),
      grants: world.rules.filter((r) => r.effect === 'permit' && (r.principal.kind !== 'any' || r.resource.kind !== 'any')),
    };
    lookups.set(world, found);
  }
  return found;
}

/**
 * Request number `index` of stream `stream` (each under its own mandate, so no two
 * requests are equal), built by the gateway's own request builder
 * (src/gateway/request.ts) with the agent's teams as its parents. Most requests act
 * within a grant of the set (an agent calling a tool a permit names for it, its team
 * or its server), the rest are an agent calling some tool, mostly on its teams' servers.
 */
export function makeRequest(world: World, stream: number, index: number): BenchRequest {
  const random = prng((world.seed ^ Math.imul(stream + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0);
  const l = lookup(world);
  const home = (a: OrgAgent): string[] => [...new Set(a.teams.flatMap((t) => (l.teams.get(t) as OrgTeam).servers))];
  const server = (name: string): OrgServer => l.servers.get(name) as OrgServer;
  // Agents mostly call servers of their own environment (or of any): the gateway
  // would refuse the others, and they know it.
  const toolOn = (a: OrgAgent, servers: readonly string[]): Tool => {
    const fitting = servers.filter((name) => [null, a.agent.environment].includes(server(name).server.environment));
    return pick(random, server(pick(random, fitting.length > 0 && random() < 0.9 ? fitting : servers)).tools);
  };
  let a: OrgAgent;
  let tool: Tool;
  let namesCall = 0.8;
  let namesServer = 0.25;
  const grant = l.grants.length > 0 && random() < 0.55 ? pick(random, l.grants) : undefined;
  if (grant) {
    const members = grant.principal.kind === 'team' ? l.members.get(grant.principal.id) ?? [] : [];
    a = grant.principal.kind === 'agent' ? l.agents.get(grant.principal.id) as OrgAgent
      : members.length > 0 ? pick(random, members) : pickSkewed(random, world.agents);
    tool = grant.resource.kind === 'tool' ? l.tools.get(grant.resource.id) as Tool
      : grant.resource.kind === 'server' ? pick(random, server(grant.resource.name).tools) : toolOn(a, home(a));
    namesCall = 0.9;
    namesServer = 0.35;
  } else {
    a = pickSkewed(random, world.agents);
    tool = toolOn(a, random() < 0.8 ? home(a) : [...l.servers.keys()]);
  }
  const { server: srv } = server(tool.server);
  const scope = new Set<string>();
  if (random() < namesCall) scope.add(`${srv.name}/${tool.name}`);
  if (random() < namesServer) scope.add(`${srv.name}/*`);
  for (let extra = Math.floor(random() * 4); extra > 0; extra--) {
    const other = server(pick(random, home(a)));
    scope.add(`${other.server.name}/${pick(random, other.tools).name}`);
  }
  const caller = {
    mandateId: `mandate-${stream}-${index}`, clientId: a.agent.spiffeId, scope: [...scope], person: a.agent.owner, agents: [a.agent.id],
    purpose: pick(random, PURPOSES), agent: a.agent,
    // Mandates are mostly hours old, a few days or weeks.
    grantedAt: NOW - Math.floor(random() < 0.9 ? random() * DAY : random() * 14 * DAY), expiresAt: NOW + DAY,
  };
  const cedar = governedRequest(caller, srv, 'tools/call', tool.name, tool, NOW);
  const agentEntity = cedar.entities.find((e) => e.uid.type === 'Agent') as EntityRecord;
  agentEntity.parents = a.teams.map((id) => ({ type: 'Team', id }));
  cedar.entities.push(...a.teams.map((id): EntityRecord => ({ uid: { type: 'Team', id }, attrs: {}, parents: [] })));
  return { cedar, cerbos: cerbosRequest(cedar, a.teams) };
}

/** The Cedar request's data as Cerbos sees it (see the mapping at the top of this file). */
function cerbosRequest(request: AuthorizationRequest, teams: string[]): BenchRequest['cerbos'] {
  const entity = (type: string) => request.entities.find((e) => e.uid.type === type) as EntityRecord;
  const agent = entity('Agent');
  const tool = entity('Tool');
  const c = request.context;
  const owner = agent.attrs.owner as { __entity: { id: string } };
  return {
    principal: {
      id: request.principal.id, roles: [`agent:${request.principal.id}`, ...teams.map((t) => `team:${t}`)],
      attr: { environment: agent.attrs.environment, status: agent.attrs.status, owner: owner.__entity.id, teams, mandate: c.mandate, purpose: c.purpose, scope: c.scope, granted_at: c.granted_at },
    },
    resource: {
      kind: cerbosKind(tool.attrs.server as string), id: request.resource.id,
      attr: { ...tool.attrs, call: c.call, kind_wildcard: c.kind_wildcard, server_wildcard: c.server_wildcard, server_environment: c.server_environment },
    },
  };
}

/** `count` requests of a stream, from `from` on. */
export function requests(world: World, stream: number, count: number, from = 0): BenchRequest[] {
  return Array.from({ length: count }, (_, i) => makeRequest(world, stream, from + i));
}

/**
 * A realistic repeat mix: each request is, with probability `repeat`, a fresh copy of
 * one of the last `working` distinct requests (the same agent calling the same tool
 * again under the same mandate), else a new one.
 */
export function repeatMix(world: World, stream: number, count: number, repeat = 0.9, working = 500): BenchRequest[] {
  const random = prng(world.seed ^ Math.imul(stream + 7, 0x27d4eb2d));
  const distinct: BenchRequest[] = [];
  const out: BenchRequest[] = [];
  for (let i = 0; i < count; i++) {
    if (distinct.length > 0 && random() < repeat) out.push(structuredClone(pick(random, distinct.slice(-working))));
    else {
      const fresh = makeRequest(world, stream, distinct.length);
      distinct.push(fresh);
      out.push(structuredClone(fresh));
    }
  }
  return out;
}
