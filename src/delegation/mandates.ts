// Mandates: a person's task-scoped, time-bound, revocable grant of authority to one
// agent. Granting asks the policy set (`mandate/grant`); the grant is handed to the
// agent as a mandate token, which the agent trades for task tokens.
import { randomUUID } from 'node:crypto';
import { MandateError, badRequest, forbidden, notFound } from '../errors.ts';
import type { AuditEvent } from '../audit/event.ts';
import type { AuditLog } from '../audit/log.ts';
import { describeCaller, type Caller } from '../identity/caller.ts';
import type { MandateClaims, TokenService } from '../identity/tokens.ts';
import { newId } from '../lib/ids.ts';
import { Signal } from '../lib/signal.ts';
import type { AuthorizationRequest, Decision, PolicyEngine } from '../policy/engine.ts';
import { actionEntity, agentEntity, personEntity, timeContext } from '../policy/entities.ts';
import type { Agent, Mandate, MandateSelector, Person, Store } from '../store/types.ts';
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

/** Mandates that ended together: the ones selected and everything delegated below them. */
export interface EndedMandates {
  ids: string[];
  state: 'revoked' | 'completed' | 'expired';
  reason: string | null;
}

/** What `mandate revoke` ends: a mandate, agent or person by id, a server's mandates, or all. */
export type RevocationTarget = { id: string } | { server: string } | { all: true };
export type RevocationKind = 'mandate' | 'agent' | 'person' | 'server' | 'all';

const REVOCATION_EVENT_IDS = 1000;

/** The audit record of ending mandates: who, why, what was selected, and the mandates that ended. */
function revocationEvent(caller: Caller, selector: MandateSelector, state: 'revoked' | 'completed', reason: string | null, ids: string[], total: number): AuditEvent {
  const what = 'id' in selector ? `mandate ${selector.id}` : 'agentId' in selector ? `agent ${selector.agentId}` : 'grantor' in selector ? `person ${selector.grantor}`
    : 'server' in selector ? `server ${selector.server}` : 'all mandates';
  return {
    kind: 'revocation', time: Date.now(), server: 'server' in selector ? selector.server : '', person: caller.kind === 'person' ? caller.person.id : null,
    agents: caller.kind === 'agent' ? [caller.agent.spiffeId] : [], mandate: 'id' in selector ? selector.id : null, purpose: null,
    method: state === 'completed' ? 'mandate/complete' : 'mandate/revoke', tool: null, argumentsDigest: null, decision: null, reason,
    policies: [], policySetHash: null, outcome: 'ok', latencyMs: null, caller: describeCaller(caller), subject: what, mandates: ids, ...(total > ids.length ? { total } : {}),
  };
}
export const AGENT_ID_PREFIX = 'agt';

export class Mandates {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #policy: () => PolicyEngine;
  readonly #options: MandatesOptions;
  readonly #audit: AuditLog | null;
  /**
   * Emitted after mandates ended, however they ended (revoked, completed, expired, a
   * mandate token revoked, an agent retired, a grantor deactivated), once stored and
   * recorded: so that what still holds their authority outside the store (gateway
   * sessions, upstream processes, database roles) is ended too.
   */
  readonly ended = new Signal<EndedMandates>('mandates ended');

  constructor(store: Store, tokens: TokenService, policy: () => PolicyEngine, options: MandatesOptions, audit: AuditLog | null = null) {
    this.#store = store;
    this.#tokens = tokens;
    this.#policy = policy;
    this.#options = options;
    this.#audit = audit;
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
      id: newId(MANDATE_ID_PREFIX), grantor: grantor.id, agentId: agent.id, parentId: null, depth: 0, chain: [], purpose, scope,
      notBefore: now, expiresAt: now + ttl, maxCalls: input.maxCalls ?? null, callsUsed: 0, state: 'active', reason: null, createdAt: now, endedAt: null, endedBy: null,
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

  /** Revokes or completes one mandate — and everything delegated below it; only its grantor or the admin may. */
  async end(caller: Caller, id: string, state: 'revoked' | 'completed', reason: string | null, now: number): Promise<Mandate> {
    await this.#endOne(caller, id, state, reason, now);
    return (await this.#store.getMandate(id)) as Mandate;
  }

  /** Ends one mandate and all below it, when the caller may; answers the ids ended, the mandate first. */
  async #endOne(caller: Caller, id: string, state: 'revoked' | 'completed', reason: string | null, now: number): Promise<string[]> {
    const mandate = await this.get(id, now);
    if (caller.kind === 'person' && caller.person.id !== mandate.grantor) throw forbidden('not_permitted', `only ${mandate.grantor} (who granted it) or the admin may end mandate ${id}`);
    if (caller.kind === 'agent' && (caller.agent.id !== mandate.agentId || state !== 'completed')) throw forbidden('not_permitted', 'an agent may only complete its own mandates');
    if (mandate.state !== 'active') throw new MandateError('mandate_not_active', `mandate ${id} is already ${mandate.state}`, { status: 409 });
    const ended = await this.#endWhere({ id }, state, reason, caller, now);
    if (ended[0] !== id) throw new MandateError('mandate_not_active', `mandate ${id} is no longer active`, { status: 409 });
    return ended;
  }

  /**
   * `mandate revoke`: a mandate id revokes that mandate; an agent id every active
   * mandate the agent holds; a person id every active mandate the person granted; a
   * server every mandate naming it; `all` every active mandate (the kill switch). Each
   * also ends everything delegated below what it revokes.
   */
  async revoke(caller: Caller, target: RevocationTarget, reason: string | null, now: number): Promise<{ kind: RevocationKind; revoked: string[] }> {
    if ('all' in target) {
      if (caller.kind !== 'admin') throw forbidden('admin_required', 'only the admin may revoke every mandate');
      return { kind: 'all', revoked: await this.#endWhere({ all: true }, 'revoked', reason, caller, now) };
    }
    if ('server' in target) {
      if (caller.kind !== 'admin') throw forbidden('admin_required', 'only the admin may revoke every mandate on a server');
      if (!(await this.#store.getServer(target.server))) throw notFound('server_not_found', `no server named ${target.server}`);
      return { kind: 'server', revoked: await this.#endWhere({ server: target.server }, 'revoked', reason, caller, now) };
    }
    const id = target.id;
    if (id.startsWith(`${MANDATE_ID_PREFIX}_`)) return { kind: 'mandate', revoked: await this.#endOne(caller, id, 'revoked', reason, now) };
    if (id.startsWith(`${AGENT_ID_PREFIX}_`)) {
      const agent = await this.#store.getAgent(id);
      if (!agent) throw notFound('agent_not_found', `no agent with id ${id}`);
      if (caller.kind !== 'admin' && !(caller.kind === 'person' && caller.person.id === agent.owner)) throw forbidden('not_permitted', `only the admin or the agent's owner may revoke all of its mandates`);
      return { kind: 'agent', revoked: await this.#endWhere({ agentId: agent.id }, 'revoked', reason, caller, now) };
    }
    const person = await this.#store.getPerson(id);
    if (!person) throw notFound('not_found', `${id} is no mandate, agent or person`);
    if (caller.kind !== 'admin' && !(caller.kind === 'person' && caller.person.id === person.id)) throw forbidden('not_permitted', `only the admin or ${person.id} may revoke every mandate ${person.id} granted`);
    return { kind: 'person', revoked: await this.#endWhere({ grantor: person.id }, 'revoked', reason, caller, now) };
  }

  /** Every mandate an agent holds ends when it is retired. */
  async agentRetired(agent: Agent, caller: Caller, now: number): Promise<string[]> {
    return this.#endWhere({ agentId: agent.id }, 'revoked', 'agent retired', caller, now);
  }

  /** RFC 7009 revocation of a mandate token: its mandate ends, with everything below it. */
  async tokenRevoked(mandateId: string, caller: Caller, now: number): Promise<string[]> {
    return this.#endWhere({ id: mandateId }, 'revoked', caller.kind === 'agent' ? 'revoked by the agent' : 'token revoked', caller, now);
  }

  /** Every mandate a person granted ends when they are deactivated (by the admin). */
  async personDeactivated(person: Person, caller: Caller, now: number): Promise<string[]> {
    return this.#endWhere({ grantor: person.id }, 'revoked', 'grantor deactivated', caller, now);
  }

  /** Ends the selected mandates and all below them, and records what ended, by whom and why. */
  async #endWhere(selector: MandateSelector, state: 'revoked' | 'completed', reason: string | null, caller: Caller, now: number): Promise<string[]> {
    const by = describeCaller(caller);
    const ended = await this.#store.endMandates(selector, state, reason, now, by);
    if (ended.length > 0 && this.#audit) {
      // One event per thousand mandates keeps each within a ledger entry.
      const events = [];
      for (let at = 0; at < ended.length; at += REVOCATION_EVENT_IDS) {
        events.push(this.#audit.append(revocationEvent(caller, selector, state, reason, ended.slice(at, at + REVOCATION_EVENT_IDS), ended.length)));
      }
      await Promise.all(events);
    }
    if (ended.length > 0) await this.ended.emit({ ids: ended, state, reason });
    return ended;
  }

  /** The sweep: marks active mandates past their expiry as expired. */
  async expire(now: number): Promise<string[]> {
    const expired = await this.#store.expireMandates(now);
    if (expired.length > 0) await this.ended.emit({ ids: expired, state: 'expired', reason: 'expired' });
    return expired;
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
