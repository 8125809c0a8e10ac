// The OAuth surface: discovery (RFC 8414, OIDC), the JWKS, the token endpoint
// (RFC 8693 + RFC 9449), introspection (RFC 7662) and revocation (RFC 7009).
import type { IncomingMessage } from 'node:http';
import type { App } from '../app.ts';
import { endpoints } from '../config.ts';
import type { AuditEvent } from '../audit/event.ts';
import { MandateError, oauthError } from '../errors.ts';
import type { Caller } from '../identity/caller.ts';
import { authenticateClient, CLIENT_ASSERTION_TYPE } from '../identity/client-auth.ts';
import { DPOP_ALGORITHMS } from '../identity/dpop.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, type TokenRequestSeen } from '../delegation/token-exchange.ts';
import { authenticateBearer, bearerToken } from './authenticate.ts';
import { readForm, type RouteDef } from './http.ts';
import type { Metrics } from './metrics.ts';

export function authorizationServerMetadata(app: App): Record<string, unknown> {
  const url = endpoints(app.config.publicUrl);
  return {
    issuer: url.issuer,
    token_endpoint: url.token,
    jwks_uri: url.jwks,
    introspection_endpoint: url.introspection,
    revocation_endpoint: url.revocation,
    grant_types_supported: [GRANT_TYPE_TOKEN_EXCHANGE],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES256'],
    introspection_endpoint_auth_methods_supported: ['private_key_jwt', 'bearer'],
    revocation_endpoint_auth_methods_supported: ['private_key_jwt', 'bearer'],
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    response_types_supported: [],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    service_documentation: `${url.issuer}/api/v1/openapi.json`,
  };
}

/** Introspection and revocation callers: an agent (private_key_jwt) or the admin (Bearer). */
async function endpointCaller(app: App, req: IncomingMessage, form: URLSearchParams, now: number): Promise<Caller> {
  const bearer = bearerToken(req);
  if (bearer !== null) {
    const caller = await authenticateBearer(app, bearer, now).catch((error: Error) => {
      throw oauthError('invalid_client', 'client_authentication_failed', error.message);
    });
    if (caller.kind !== 'admin') throw oauthError('invalid_client', 'client_authentication_failed', 'only the admin credential or an agent (private_key_jwt) may call this endpoint');
    return caller;
  }
  if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE) {
    throw oauthError('invalid_client', 'client_authentication_missing', 'authenticate with private_key_jwt or the admin credential');
  }
  return { kind: 'agent', agent: await authenticateClient(app.store, form, app.tokenEndpoint.assertionCheck(now)) };
}

function requiredToken(form: URLSearchParams): string {
  const tokens = form.getAll('token');
  if (tokens.length !== 1 || !tokens[0]) throw oauthError('invalid_request', 'parameter_missing', 'exactly one token parameter is required');
  return tokens[0];
}

/** The audit record of one token request at /oauth/token: who asked, for which server and mandate, and what came of it. */
function tokenEvent(seen: TokenRequestSeen, what: { decision: 'allow' | 'deny'; reason: string | null; outcome: 'ok' | 'denied'; scope?: string }, started: number): AuditEvent {
  // A sub-delegation names the agent receiving the child first, then the one delegating.
  const agents = [...(seen.delegate ? [seen.delegate] : []), ...(seen.agent ? [seen.agent] : [])];
  return {
    kind: 'token', time: Date.now(), server: seen.server ?? '', person: seen.person ?? null, agents, mandate: seen.mandate ?? null,
    purpose: seen.purpose ?? null, method: seen.delegate ? 'mandate/delegate' : 'token-exchange', tool: null, argumentsDigest: null, decision: what.decision, reason: what.reason,
    policies: [], policySetHash: null, outcome: what.outcome, latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
  };
}

export function oauthRoutes(app: App, metrics: Metrics): RouteDef[] {
  const metadata = { status: 200, headers: { 'cache-control': 'public, max-age=300' } };
  return [
    { method: 'GET', path: '/.well-known/oauth-authorization-server', errorStyle: 'problem', handle: async () => ({ ...metadata, body: authorizationServerMetadata(app) }) },
    { method: 'GET', path: '/.well-known/openid-configuration', errorStyle: 'problem', handle: async () => ({ ...metadata, body: authorizationServerMetadata(app) }) },
    {
      method: 'GET', path: '/.well-known/jwks.json', errorStyle: 'problem',
      handle: async ({ now }) => ({ ...metadata, body: app.keys.jwks(now), contentType: 'application/jwk-set+json' }),
    },
    {
      method: 'POST', path: '/oauth/token', errorStyle: 'oauth',
      handle: async ({ req, now }) => {
        const form = await readForm(req, 'oauth');
        const seen: TokenRequestSeen = {};
        const started = performance.now();
        try {
          const body = await app.tokenEndpoint.handle(form, req.headers.dpop as string | undefined, now, seen);
          // Issued only once recorded: a token the audit log does not know of is never handed out.
          await app.audit.append(tokenEvent(seen, { decision: 'allow', reason: null, outcome: 'ok', scope: body.scope }, started)).catch((error: unknown) => {
            throw new MandateError('audit_unavailable', `the token could not be recorded: ${(error as Error).message}`, { status: 503, oauthError: 'server_error' });
          });
          metrics.tokensIssued.inc({ kind: 'task' });
          return { body, headers: { pragma: 'no-cache' } };
        } catch (error) {
          metrics.tokenFailures.inc({ error: (error as { oauthError?: string }).oauthError ?? 'server_error' });
          if (!(error instanceof MandateError && error.code === 'audit_unavailable')) {
            const reason = error instanceof MandateError ? error.code : 'server_error';
            await app.audit.append(tokenEvent(seen, { decision: 'deny', reason, outcome: 'denied' }, started)).catch((e: Error) => console.error(`mandate: audit append failed: ${e.message}`));
          }
          throw error;
        }
      },
    },
    {
      method: 'POST', path: '/oauth/introspect', errorStyle: 'oauth',
      handle: async ({ req, now }) => {
        const form = await readForm(req, 'oauth');
        const caller = await endpointCaller(app, req, form, now);
        return { body: await app.introspection.introspect(caller, requiredToken(form), now) };
      },
    },
    {
      method: 'POST', path: '/oauth/revoke', errorStyle: 'oauth',
      handle: async ({ req, now }) => {
        const form = await readForm(req, 'oauth');
        const caller = await endpointCaller(app, req, form, now);
        await app.introspection.revoke(caller, requiredToken(form), now);
        return { status: 200 };
      },
    },
  ];
}
