// Token introspection (RFC 7662) and revocation (RFC 7009) for every token Mandate
// signs. A task token is active only while its mandate is active and not exhausted,
// its agent is active and its `jti` has not been revoked.
import { effectiveState } from './mandates.ts';
import type { Agent, Mandate, Store } from '../store/types.ts';
import type { Caller } from '../identity/caller.ts';
import type { TokenKind, TokenService } from '../identity/tokens.ts';
import { TOKEN_TYP } from '../identity/tokens.ts';
import { decodeJws } from '../identity/jws.ts';


export type Standing = { active: true; mandate: Mandate; agent: Agent } | { active: false; reason: string; mandate?: Mandate; agent?: Agent };

/** Whether the authority behind a task or mandate token still stands. */
export async function mandateStanding(store: Store, claims: Record<string, unknown>, now: number): Promise<Standing> {
  if (typeof claims.jti === 'string' && (await store.isTokenIdRevoked(claims.jti, now))) return { active: false, reason: 'token_revoked' };
  const stored = typeof claims.mandate_id === 'string' ? await store.getMandate(claims.mandate_id) : null;
  if (!stored) return { active: false, reason: 'mandate_not_found' };
  const mandate = effectiveState(stored, now);
  if (mandate.state !== 'active') return { active: false, reason: `mandate_${mandate.state}`, mandate };
  const agent = await store.getAgent(mandate.agentId);
  if (!agent || agent.status !== 'active') return { active: false, reason: 'agent_inactive', mandate };
  const grantor = await store.getPerson(mandate.grantor);
  if (!grantor || grantor.status !== 'active') return { active: false, reason: 'grantor_inactive', mandate, agent };
  if (mandate.maxCalls !== null && mandate.callsUsed >= mandate.maxCalls) return { active: false, reason: 'mandate_exhausted', mandate, agent };
  const above = await delegationStanding(store, mandate, now);
  if (above) return { active: false, reason: above, mandate, agent };
  return { active: true, mandate, agent };
}

/**
 * A sub-delegated mandate stands only while every link above it does: each parent
 * active, unexpired and under its budget, and each delegating agent active. Ending a
 * mandate ends what is below it (Store.endMandate), so this catches what changes
 * without ending anything: a delegating agent suspended, a parent's budget spent.
 * Answers the reason it no longer stands, or null.
 */
export async function delegationStanding(store: Store, mandate: Mandate, now: number): Promise<string | null> {
  for (let link = mandate; link.parentId !== null;) {
    const stored = await store.getMandate(link.parentId);
    if (!stored) return 'parent_mandate_not_found';
    const parent = effectiveState(stored, now);
    if (parent.state !== 'active') return `parent_mandate_${parent.state}`;
    if (parent.maxCalls !== null && parent.callsUsed >= parent.maxCalls) return 'parent_mandate_exhausted';
    const delegator = await store.getAgent(parent.agentId);
    if (!delegator || delegator.status !== 'active') return 'delegator_inactive';
    link = parent;
  }
  return null;
}

const KIND_BY_TYP = new Map<string, TokenKind>(Object.entries(TOKEN_TYP).map(([kind, typ]) => [typ, kind as TokenKind]));

export class Introspection {
  readonly #store: Store;
  readonly #tokens: TokenService;
  /** Ends a mandate (and all below it), recorded: Mandates.tokenRevoked. */
  readonly #endMandate: (id: string, caller: Caller, now: number) => Promise<unknown>;

  constructor(store: Store, tokens: TokenService, endMandate: (id: string, caller: Caller, now: number) => Promise<unknown>) {
    this.#store = store;
    this.#tokens = tokens;
    this.#endMandate = endMandate;
  }

  /** Verifies a token of any kind Mandate issues; null when it is not one or does not verify. */
  #verify(token: string, now: number): { kind: TokenKind; claims: Record<string, unknown> } | null {
    try {
      const { header, payload } = decodeJws(token, ['ES256']);
      const kind = KIND_BY_TYP.get(String(header.typ));
      if (!kind) return null;
      // A task token's audience is the resource it was issued for; introspection serves them all.
      const audience = kind === 'task' ? String(payload.aud) : this.#tokens.issuer;
      return { kind, claims: this.#tokens.verify(kind, token, audience, now) };
    } catch {
      return null;
    }
  }

  /** An agent may only see its own tokens; the admin sees all. */
  #visibleTo(caller: Caller, kind: TokenKind, claims: Record<string, unknown>): boolean {
    if (caller.kind === 'admin') return true;
    if (caller.kind !== 'agent') return false;
    const holder = kind === 'task' ? claims.client_id : kind === 'mandate' ? (claims.may_act as { sub?: unknown } | undefined)?.sub : undefined;
    return holder === caller.agent.spiffeId;
  }

  async introspect(caller: Caller, token: string, now: number): Promise<Record<string, unknown>> {
    const verified = this.#verify(token, now);
    if (!verified || !this.#visibleTo(caller, verified.kind, verified.claims)) return { active: false };
    const { kind, claims } = verified;
    if (kind === 'person') {
      const person = await this.#store.getPerson(String(claims.sub));
      const revoked = await this.#store.isTokenIdRevoked(String(claims.jti), now);
      if (!person || person.status !== 'active' || revoked) return { active: false };
      return { active: true, token_type: 'person', ...claims };
    }
    const standing = await mandateStanding(this.#store, claims, now);
    if (!standing.active) return { active: false };
    return { active: true, token_type: kind === 'task' ? 'DPoP' : 'mandate', ...claims };
  }

  /**
   * Revokes a token. A task or person token is revoked by its `jti`; a mandate token
   * revokes its mandate. Unknown or invalid tokens are not an error (RFC 7009 §2.2).
   */
  async revoke(caller: Caller, token: string, now: number): Promise<void> {
    const verified = this.#verify(token, now);
    if (!verified || !this.#visibleTo(caller, verified.kind, verified.claims)) return;
    const { kind, claims } = verified;
    if (kind === 'mandate') {
      await this.#endMandate(String(claims.mandate_id), caller, now);
      return;
    }
    await this.#store.revokeTokenId(String(claims.jti), Number(claims.exp));
  }
}
