// Who is calling the control plane: `Authorization: Bearer` with the admin
// credential, a Mandate person token, or a token from a configured OIDC issuer.
import type { IncomingMessage } from 'node:http';
import type { App } from '../app.ts';
import { MandateError, unauthorized } from '../errors.ts';
import type { Caller } from '../identity/caller.ts';
import { ADMIN_TOKEN_PREFIX } from '../init.ts';
import { sha256 } from '../lib/ids.ts';

export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(header);
  if (!match) throw unauthorized('authorization_malformed', 'the Authorization header must be "Bearer <token>"');
  return match[1] as string;
}

export async function authenticateBearer(app: App, token: string, now: number): Promise<Caller> {
  if (token.startsWith(`${ADMIN_TOKEN_PREFIX}_`)) {
    if (await app.store.isAdminCredential(sha256(token))) return { kind: 'admin' };
    throw unauthorized('admin_credential_invalid', 'the admin credential is not valid');
  }
  try {
    return { kind: 'person', person: await app.people.authenticate(token, now) };
  } catch (error) {
    if (error instanceof MandateError && error.status !== 401) throw unauthorized(error.code, error.message);
    throw error;
  }
}

export async function authenticateRequest(app: App, req: IncomingMessage, now: number): Promise<Caller> {
  const token = bearerToken(req);
  if (token === null) throw unauthorized('token_missing', 'send Authorization: Bearer <admin credential or person token>');
  return authenticateBearer(app, token, now);
}
