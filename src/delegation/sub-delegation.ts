// Sub-delegation (RFC 8693 token exchange with an actor): an agent trades its task
// token — `subject_token`, with a DPoP proof by the key it is bound to — and the
// sub-agent's own signed assertion — `actor_token`, the sub-agent's consent and
// identity — for a mandate token of a child mandate held by the sub-agent. The child
// is recorded under its parent and can only narrow it: scope within the task token's
// (so within the parent's), expiry no later, depth at most the configured maximum, no
// agent twice in the chain, and `mandate/delegate` permitted by policy. The sub-agent
// then trades the child's mandate token for its own task tokens, whose nested `act`
// claim carries the whole chain, current actor outermost.
import { randomUUID } from 'node:crypto';
import { MandateError, oauthError } from '../errors.ts';
import { verifyAgentAssertion, type AssertionCheck } from '../identity/client-auth.ts';
import { verifyDpopProof } from '../identity/dpop.ts';
import { decodeJws } from '../identity/jws.ts';
import type { ReplayCache } from '../identity/replay-cache.ts';
import type { Actor, MandateClaims, TokenService } from '../identity/tokens.ts';
import { newId } from '../lib/ids.ts';
import type { AuthorizationRequest, PolicyEngine } from '../policy/engine.ts';
import { actionEntity, agentEntity, entityValue, personEntity, timeContext } from '../policy/entities.ts';
import type { EntityRecord } from '../policy/engine.ts';
import type { Agent, Mandate, Store } from '../store/types.ts';
import { mandateStanding } from './introspection.ts';
import { MANDATE_ID_PREFIX } from './mandates.ts';
import { notCovered, scopeFromString, scopeToString } from './scope.ts';

export const DEFAULT_MAX_DELEGATION_DEPTH = 3;

export interface SubDelegationOptions {
  issuer: string;
  tokenEndpoint: string;
  /** The URL prefixes a task token's audience may have (the gateway resources). */
  resourcePrefixes: readonly string[];
  dpopMaxAge: number;
  notBefore: number;
  maxDepth: number;
}

export interface DelegationResponse {
  access_token: string;
  issued_token_type: string;
  token_type: 'N_A';
  expires_in: number;
  scope: string;
  mandate_id: string;
}

/** What a sub-delegation was found to be about, for its audit record. */
export interface DelegationSeen {
  agent?: string;
  delegate?: string;
  mandate?: string;
  person?: string;
  purpose?: string;
  server?: string;
}

const invalidGrant = (code: string, message: string): never => {
  throw oauthError('invalid_grant', code, message);
};

/** The nested `act` claim of a chain (current actor first): `{sub: current, act: {sub: its delegator, …}}`. */
export function actClaim(chain: readonly string[]): Actor {
  const [first, ...rest] = chain;
  if (first === undefined) throw new Error('an actor chain has at least one actor');
  return rest.length === 0 ? { sub: first } : { sub: first, act: actClaim(rest) };
}

export class SubDelegation {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #replay: ReplayCache;
  readonly #policy: () => PolicyEngine;
  readonly #options: SubDelegationOptions;

  constructor(store: Store, tokens: TokenService, replay: ReplayCache, policy: () => PolicyEngine, options: SubDelegationOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#replay = replay;
    this.#policy = policy;
    this.#options = options;
  }

  async delegate(client: Agent, form: URLSearchParams, dpopProof: string | undefined, assertionCheck: AssertionCheck, now: number, seen: DelegationSeen): Promise<DelegationResponse> {
    const subjectToken = form.get('subject_token') as string;
    const actorToken = form.get('actor_token');
    if (actorToken === null) throw oauthError('invalid_request', 'parameter_missing', 'sub-delegation needs actor_token: the sub-agent\'s own signed assertion');

    // The subject: a task token of this client, presented with a proof by its key.
    const claims = this.#taskClaims(subjectToken, now);
    if (claims.client_id !== client.spiffeId) invalidGrant('subject_not_client', 'the subject token was issued to another agent than the authenticated client');
    let proof;
    try {
      proof = verifyDpopProof(dpopProof, { method: 'POST', url: this.#options.tokenEndpoint, now, maxAge: this.#options.dpopMaxAge, notBefore: this.#options.notBefore, replayCache: this.#replay });
    } catch (error) {
      throw (error as MandateError).asOAuth('invalid_dpop_proof');
    }
    if (proof.jkt !== (claims.cnf as { jkt?: unknown } | undefined)?.jkt) invalidGrant('dpop_key_mismatch', 'the DPoP proof is not by the key the subject token is bound to');
    const standing = await mandateStanding(this.#store, claims, now);
    if (!standing.active) invalidGrant(standing.reason, `the subject token no longer stands: ${standing.reason.replace(/_/g, ' ')}`);
    const parent = (standing as { mandate: Mandate }).mandate;
    Object.assign(seen, { mandate: parent.id, person: parent.grantor, purpose: parent.purpose });

    // The actor: the sub-agent, by its own key.
    let delegate: Agent;
    try {
      delegate = await verifyAgentAssertion(this.#store, actorToken, assertionCheck);
    } catch (error) {
      throw oauthError('invalid_grant', (error as MandateError).code ?? 'actor_invalid', `the actor token is not valid: ${(error as Error).message}`);
    }
    seen.delegate = delegate.spiffeId;

    // What is asked: within the parent, by every measure.
    const chain = [client.spiffeId, ...parent.chain];
    const depth = parent.depth + 1;
    if (chain.includes(delegate.spiffeId)) invalidGrant('delegation_loop', `${delegate.spiffeId} is already in this delegation chain`);
    if (depth > this.#options.maxDepth) invalidGrant('delegation_too_deep', `a mandate may be delegated at most ${this.#options.maxDepth} levels deep; this would be level ${depth}`);
    const granted = scopeFromString(String(claims.scope ?? ''));
    const scope = this.#scope(form.get('scope'), granted);
    const expiresAt = this.#expiry(form.get('requested_ttl'), parent, now);
    const maxCalls = this.#maxCalls(form.get('max_calls'), parent);
    const purpose = (form.get('purpose') ?? parent.purpose).trim();
    if (purpose.length === 0 || purpose.length > 1000) throw oauthError('invalid_request', 'invalid_purpose', 'purpose must be 1–1000 characters');

    const decision = this.#policy().decide(delegateRequest(client, parent, delegate, { purpose, scope, ttl: expiresAt - now, depth, actors: [delegate.spiffeId, ...chain] }, now, await this.#people(parent, client, delegate)));
    if (decision.decision !== 'allow') {
      const why = decision.policies.length > 0 ? `forbidden by ${decision.policies.join(', ')}` : decision.errors.length > 0 ? decision.errors.join('; ') : 'no policy permits it';
      invalidGrant('delegation_denied', `${client.name} may not delegate to ${delegate.name}: ${why}`);
    }

    const child: Mandate = {
      id: newId(MANDATE_ID_PREFIX), grantor: parent.grantor, agentId: delegate.id, parentId: parent.id, depth, chain, purpose, scope,
      notBefore: now, expiresAt, maxCalls, callsUsed: 0, state: 'active', reason: null, createdAt: now, endedAt: null, endedBy: null,
    };
    await this.#store.createMandate(child);
    seen.mandate = child.id;
    const token: MandateClaims & { act: Actor } = {
      iss: this.#options.issuer, sub: child.grantor, aud: this.#options.issuer, iat: now, exp: child.expiresAt, jti: randomUUID(),
      may_act: { sub: delegate.spiffeId }, mandate_id: child.id, scope: scopeToString(scope), act: actClaim(chain),
    };
    return {
      access_token: this.#tokens.sign('mandate', token), issued_token_type: 'urn:ietf:params:oauth:token-type:jwt', token_type: 'N_A',
      expires_in: child.expiresAt - now, scope: token.scope, mandate_id: child.id,
    };
  }

  #taskClaims(token: string, now: number): Record<string, unknown> {
    try {
      const { payload } = decodeJws(token, ['ES256']);
      const audience = String(payload.aud);
      if (!this.#options.resourcePrefixes.some((prefix) => audience.startsWith(prefix))) throw new MandateError('token_audience_invalid', 'its audience is no gateway resource');
      return this.#tokens.verify('task', token, audience, now);
    } catch (error) {
      throw oauthError('invalid_grant', (error as MandateError).code ?? 'token_invalid', `the subject token is not a valid task token: ${(error as Error).message}`);
    }
  }

  #scope(requested: string | null, granted: string[]): string[] {
    if (requested === null) return granted;
    let asked: string[];
    try {
      asked = scopeFromString(requested);
    } catch (error) {
      throw oauthError('invalid_scope', (error as MandateError).code ?? 'invalid_scope', (error as Error).message);
    }
    if (asked.length === 0) throw oauthError('invalid_scope', 'scope_empty', 'scope, when given, must name at least one action');
    const beyond = notCovered(granted, asked);
    if (beyond.length > 0) throw oauthError('invalid_scope', 'scope_exceeds_parent', `the delegating task token does not allow ${beyond.join(', ')}`);
    return [...new Set(asked)].sort();
  }

  #expiry(requested: string | null, parent: Mandate, now: number): number {
    if (requested === null) return parent.expiresAt;
    if (!/^[1-9]\d{0,8}$/.test(requested)) throw oauthError('invalid_request', 'invalid_ttl', 'requested_ttl must be a positive number of seconds');
    const expiresAt = now + Number(requested);
    if (expiresAt > parent.expiresAt) invalidGrant('expiry_beyond_parent', `the child mandate would outlive its parent (${parent.expiresAt - now} s left)`);
    return expiresAt;
  }

  #maxCalls(requested: string | null, parent: Mandate): number | null {
    const left = parent.maxCalls === null ? null : parent.maxCalls - parent.callsUsed;
    if (requested === null) return left;
    if (!/^[1-9]\d{0,8}$/.test(requested)) throw oauthError('invalid_request', 'invalid_max_calls', 'max_calls must be a positive whole number');
    if (left !== null && Number(requested) > left) invalidGrant('budget_beyond_parent', `the parent mandate has ${left} calls left`);
    return Number(requested);
  }

  async #people(parent: Mandate, client: Agent, delegate: Agent): Promise<EntityRecord[]> {
    const ids = [...new Set([parent.grantor, client.owner, delegate.owner])];
    const people = await Promise.all(ids.map(async (id) => (await this.#store.getPerson(id)) ?? { id, status: 'deactivated' as const }));
    return people.map(personEntity);
  }
}

/**
 * The Cedar request for a sub-delegation (`mandate/delegate` in the schema): principal
 * the delegating agent, resource its mandate, context the agent receiving the child
 * and what is asked for it.
 */
export function delegateRequest(
  client: Agent, parent: Mandate, delegate: Agent,
  asked: { purpose: string; scope: string[]; ttl: number; depth: number; actors: string[] }, now: number, people: EntityRecord[],
): AuthorizationRequest {
  return {
    principal: { type: 'Agent', id: client.id },
    action: 'mandate/delegate',
    resource: { type: 'Mandate', id: parent.id },
    context: { agent: entityValue('Agent', delegate.id), purpose: asked.purpose, scope: asked.scope, ttl: asked.ttl, depth: asked.depth, actors: asked.actors, time: timeContext(now) },
    entities: [
      agentEntity(client),
      ...(delegate.id === client.id ? [] : [agentEntity(delegate)]),
      mandateEntity(parent),
      ...people,
      actionEntity('mandate/delegate'),
    ],
  };
}

export function mandateEntity(mandate: Mandate): EntityRecord {
  return {
    uid: { type: 'Mandate', id: mandate.id },
    attrs: {
      grantor: entityValue('Person', mandate.grantor), agent: entityValue('Agent', mandate.agentId), purpose: mandate.purpose, scope: mandate.scope,
      depth: mandate.depth, granted_at: mandate.createdAt, expires_at: mandate.expiresAt, state: mandate.state,
      ...(mandate.parentId === null ? {} : { parent: entityValue('Mandate', mandate.parentId) }),
    },
    parents: [],
  };
}
