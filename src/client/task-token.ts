// The agent's side of RFC 8693 at Mandate's token endpoint: its mandate token traded
// for a DPoP-bound task token for one resource, authenticated with `private_key_jwt`.
import { CLIENT_ASSERTION_TYPE } from '../identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../delegation/token-exchange.ts';
import { clientAssertion, dpopProof, type AgentKey } from './agent-key.ts';

export interface TaskToken {
  accessToken: string;
  /** Seconds it lives, as the token endpoint said. */
  expiresIn: number;
}

export async function exchangeForTaskToken(tokenUrl: string, mandateToken: string, key: AgentKey, resource: string): Promise<TaskToken> {
  const response = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpopProof(key, 'POST', tokenUrl) },
    body: new URLSearchParams({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: mandateToken, subject_token_type: TOKEN_TYPE_JWT, resource,
      client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(key, tokenUrl),
    }),
  });
  const body = await response.json().catch(() => ({})) as { access_token?: unknown; expires_in?: unknown };
  if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') {
    throw new Error(`the token exchange failed: HTTP ${response.status} ${JSON.stringify(body)}`);
  }
  return { accessToken: body.access_token, expiresIn: body.expires_in };
}
