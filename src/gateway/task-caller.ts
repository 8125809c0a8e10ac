// Who is calling a gateway resource (/mcp/<server> or /proxy/<server>): the task
// token and DPoP proof verified for exactly that resource (resource-auth.ts), and the
// mandate behind it still standing — so a revocation stops the very next request.
import { mandateStanding } from '../delegation/introspection.ts';
import { scopeFromString } from '../delegation/scope.ts';
import { MandateError } from '../errors.ts';
import type { ReplayCache } from '../identity/replay-cache.ts';
import { authenticateTaskRequest, type PresentedRequest } from '../identity/resource-auth.ts';
import type { TokenService } from '../identity/tokens.ts';
import type { Store } from '../store/types.ts';
import type { CallerContext } from './session.ts';

export interface TaskCallerCheck {
  resource: string;
  now: number;
  dpopMaxAge: number;
  notBefore: number;
  replayCache: ReplayCache;
}

/** Why a request was not authenticated, and whose token it was when it verified. */
export class TaskCallerRefused extends Error {
  readonly failure: MandateError;
  readonly who: { person?: string; agents?: string[]; mandate?: string | null };
  constructor(failure: MandateError, who: TaskCallerRefused['who']) {
    super(failure.message);
    this.failure = failure;
    this.who = who;
  }
}

/** `act` nested claims as a list, current actor first. */
export function actorChain(act: unknown): string[] {
  const chain: string[] = [];
  let current = act as { sub?: unknown; act?: unknown } | undefined;
  while (current && typeof current.sub === 'string' && chain.length < 16) {
    chain.push(current.sub);
    current = current.act as typeof current;
  }
  return chain;
}

/**
 * The caller of a request, or a TaskCallerRefused. A spent budget is not a refusal
 * here: it refuses calls (at their decision), not the connection.
 */
export async function taskCaller(store: Store, tokens: TokenService, presented: PresentedRequest, check: TaskCallerCheck): Promise<CallerContext> {
  let claims: Record<string, unknown> | undefined;
  try {
    claims = authenticateTaskRequest(tokens, presented, check);
    const standing = await mandateStanding(store, claims, check.now);
    if (!standing.active && standing.reason !== 'mandate_exhausted') throw new MandateError(standing.reason, `the task token no longer stands: ${standing.reason.replace(/_/g, ' ')}`, { status: 401, oauthError: 'invalid_token' });
    return {
      mandateId: String(claims.mandate_id), clientId: String(claims.client_id), scope: scopeFromString(String(claims.scope ?? '')),
      person: String(claims.sub), agents: actorChain(claims.act), purpose: standing.mandate?.purpose ?? '',
      agent: standing.agent as NonNullable<typeof standing.agent>, grantedAt: standing.mandate?.createdAt ?? check.now, expiresAt: standing.mandate?.expiresAt ?? check.now,
    };
  } catch (error) {
    const failure = error instanceof MandateError ? error : new MandateError('token_invalid', 'the request could not be authenticated', { status: 401, oauthError: 'invalid_token' });
    const who = claims ? { person: String(claims.sub), agents: actorChain(claims.act), mandate: typeof claims.mandate_id === 'string' ? claims.mandate_id : null } : {};
    throw new TaskCallerRefused(failure, who);
  }
}
