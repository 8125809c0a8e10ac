// Mandates: a person's task-scoped, time-bound, revocable grant of authority to one
// agent. Granting asks the policy set (`mandate/grant`); the grant is handed to the
// agent as a mandate token, which the agent trades for task tokens.
import { randomUUID } from 'node:crypto';
import { MandateError, badRequest, forbidden, notFound } from '../errors.ts';
import type { Caller } from '../identity/caller.ts';
import type { MandateClaims, TokenService } from '../identity/tokens.ts';
import { newId } from '../lib/ids.ts';
import type { AuthorizationRequest, Decision, PolicyEngine } from '../policy/engine.ts';
import { actionEntity, agentEntity, personEntity, timeContext } from '../policy/entities.ts';
import type { Agent, Mandate, Person, Store } from '../store/types.ts';
import { normalizeScope, parseScopeItem, scopeToString } from './scope.ts';

export interface GrantInput {
  agentId: string;
  purpose: string;
  allow: string[];
  ttl?: number | undefined;
  maxCalls?: number | undefined;
}

export interface MandatesOptions {
  defaultTtl: number;
  maxTtl: number;
}

export const MANDATE_ID_PREFIX = 'mnd';
export const AGENT_ID_PREFIX = 'agt';

export class Mandates {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #policy: () => PolicyEngine;
  readonly #options: MandatesOptions;

  constructor(store: Store, tokens: TokenService, policy: () => PolicyEngine, options: MandatesOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#policy = policy;
    this.#options = options;
  }

  async grant(grantor: Person, input: GrantInput, now: number): Promise<{ mandate: Mandate; mandateToken: string; decision: Decision }> {
    const purpose = input.purpose.trim();
    if (purpose.length === 0 || purpose.length > 1000) throw badRequest('invalid_purpose', 'a mandate needs a purpose of 1–1000 characters');
    if (input.allow.length === 0) throw badRequest('invalid_scope', 'a mandate must allow at least one action (--allow server/tool)');
    const scope = normalizeScope(input.allow);
    for (const server of new Set(scope.map((a) => parseScopeItem(a).server))) {
      if (!(await this.#store.getServer(server))) throw badRequest('server_not_found', `no server named ${server}`);
    }
    const ttl = input.ttl ?? this.#options.defaultTtl;
    if (!Number.isInteger(ttl) || ttl <= 0) throw badRequest('invalid_ttl', 'the TTL must be a positive number of seconds');
    if (ttl > this.#options.maxTtl) throw badRequest('ttl_too_long', `the TTL may be at most ${this.#options.maxTtl} seconds`);
    if (input.maxCalls !== undefined && (!Number.isInteger(input.maxCalls) || input.maxCalls <= 0)) throw badRequest('invalid_max_calls', 'max calls must be a positive whole number');

    const agent = await this.#store.getAgent(input.agentId);
    if (!agent) throw notFound('agent_not_found', `no agent with id ${input.agentId}`);

    const owner = agent.owner === grantor.id ? grantor : await this.#store.getPerson(agent.owner);
    const decision = this.#policy().decide(grantRequest(grantor, owner, agent, { purpose, scope, ttl }, now));
    // The policy speaks first: only someone it permits learns the agent's state.
    if (decision.decision !== 'allow') {
      if (agent.owner === grantor.id && agent.status !== 'active') throw new MandateError('agent_inactive', `agent ${agent.id} is ${agent.status}`, { status: 409 });
      const why = decision.policies.length > 0 ? `forbidden by ${decision.policies.join(', ')}` : decision.errors.length > 0 ? decision.errors.join('; ') : 'no policy permits it (by default only the agent\'s owner may grant)';
      throw forbidden('grant_denied', `${grantor.id} may not grant a mandate to agent ${agent.name}: ${why}`);
    }
    if (agent.status !== 'active') throw new MandateError('agent_inactive', `agent ${agent.id} is ${agent.status}`, { status: 409 });
    if (agent.keys.length === 0) throw new MandateError('agent_not_enrolled', `agent ${agent.id} has not enrolled a key yet`, { status: 409 });

    const mandate: Mandate = {
      id: newId(MANDATE_ID_PREFIX), grantor: grantor.id, agentId: agent.id, parentId: null, purpose, scope,
      notBefore: now, expiresAt: now + ttl, maxCalls: input.maxCalls ?? null, callsUsed: 0, state: 'active', reason: null, createdAt: now, endedAt: null,
    };
    await this.#store.createMandate(mandate);
    return { mandate, mandateToken: this.#mandateToken(mandate, agent, now), decision };
  }

  #mandateToken(mandate: Mandate, agent: Agent, now: number): string {
    const claims: MandateClaims = {
      iss: this.#tokens.issuer, sub: mandate.grantor, aud: this.#tokens.issuer, iat: now, exp: mandate.expiresAt, jti: randomUUID(),
      may_act: { sub: agent.spiffeId }, mandate_id: mandate.id, scope: scopeToString(mandate.scope),
    };
    return this.#tokens.sign('mandate', claims);
  }

  async get(id: string, now: number): Promise<Mandate> {
    const mandate = await this.#store.getMandate(id);
    if (!mandate) throw notFound('mandate_not_found', `no mandate with id ${id}`);
    return effectiveState(mandate, now);
  }

  async list(filter: Parameters<Store['listMandates']>[0], now: number): Promise<Mandate[]> {
    return (await this.#store.listMandates(filter)).map((m) => effectiveState(m, now));
  }

  /** Revokes or completes one mandate; only its grantor or the admin may. */
  async end(caller: Caller, id: string, state: 'revoked' | 'completed', reason: string | null, now: number): Promise<Mandate> {
    const mandate = await this.get(id, now);
    if (caller.kind === 'person' && caller.person.id !== mandate.grantor) throw forbidden('not_permitted', `only ${mandate.grantor} (who granted it) or the admin may end mandate ${id}`);
    if (caller.kind === 'agent' && (caller.agent.id !== mandate.agentId || state !== 'completed')) throw forbidden('not_permitted', 'an agent may only complete its own mandates');
    if (mandate.state !== 'active') throw new MandateError('mandate_not_active', `mandate ${id} is already ${mandate.state}`, { status: 409 });
    const ended = await this.#store.endMandate(id, state, reason, now);
    if (!ended) throw new MandateError('mandate_not_active', `mandate ${id} is no longer active`, { status: 409 });
    return ended;
  }

  /**
   * `mandate revoke <id>`: a mandate id revokes that mandate; an agent id revokes every
   * active mandate the agent holds; a person id every active mandate the person granted.
   */
  async revoke(caller: Caller, target: string, reason: string | null, now: number): Promise<{ kind: 'mandate' | 'agent' | 'person'; revoked: string[] }> {
    if (target.startsWith(`${MANDATE_ID_PREFIX}_`)) {
      const ended = await this.end(caller, target, 'revoked', reason, now);
      return { kind: 'mandate', revoked: [ended.id] };
    }
    if (target.startsWith(`${AGENT_ID_PREFIX}_`)) {
      const agent = await this.#store.getAgent(target);
      if (!agent) throw notFound('agent_not_found', `no agent with id ${target}`);
      if (caller.kind !== 'admin' && !(caller.kind === 'person' && caller.person.id === agent.owner)) throw forbidden('not_permitted', `only the admin or the agent's owner may revoke all of its mandates`);
      return { kind: 'agent', revoked: await this.#store.endMandatesOf({ agentId: agent.id }, 'revoked', reason, now) };
    }
    const person = await this.#store.getPerson(target);
    if (!person) throw notFound('not_found', `${target} is no mandate, agent or person`);
    if (caller.kind !== 'admin' && !(caller.kind === 'person' && caller.person.id === person.id)) throw forbidden('not_permitted', `only the admin or ${person.id} may revoke every mandate ${person.id} granted`);
    return { kind: 'person', revoked: await this.#store.endMandatesOf({ grantor: person.id }, 'revoked', reason, now) };
  }

  expire(now: number): Promise<string[]> {
    return this.#store.expireMandates(now);
  }
}

/**
 * The Cedar request for a grant: principal = the grantor, resource = the agent (its
 * owner among the entities; unknown, they count as deactivated), context = what is
 * asked for and when (see `mandate/grant` in policies/schema.cedarschema).
 */
export function grantRequest(grantor: Person, owner: Person | null, agent: Agent, asked: { purpose: string; scope: string[]; ttl: number }, now: number): AuthorizationRequest {
  return {
    principal: { type: 'Person', id: grantor.id },
    action: 'mandate/grant',
    resource: { type: 'Agent', id: agent.id },
    context: { purpose: asked.purpose, scope: asked.scope, ttl: asked.ttl, time: timeContext(now) },
    entities: [
      personEntity(grantor),
      ...(owner?.id === grantor.id ? [] : [personEntity(owner ?? { id: agent.owner, status: 'deactivated' })]),
      agentEntity(agent),
      actionEntity('mandate/grant'),
    ],
  };
}

/** A mandate past its expiry is expired even before the sweeper has marked it. */
export function effectiveState(mandate: Mandate, now: number): Mandate {
  return mandate.state === 'active' && mandate.expiresAt <= now ? { ...mandate, state: 'expired', reason: 'expired', endedAt: mandate.expiresAt } : mandate;
}
