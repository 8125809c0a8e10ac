// People from an external OpenID provider: a real `oidc-provider` (a certified OpenID
// Connect implementation) issues an ID token through the authorization-code flow, and
// Mandate accepts it as a person token only while that issuer is configured.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SignJWT, importJWK } from 'jose';
import Provider from 'oidc-provider';
import { generateAgentKey } from '../src/client/agent-key.ts';
import { freePort, startMandate, type Harness } from './harness.ts';

const CLIENT_ID = 'mandate-console';

let h: Harness;
let idp: Server;
let issuer: string;
let providerKey: Record<string, unknown>;
let idToken: string;

/** Follows the authorization-code flow through oidc-provider's own login and consent pages. */
async function signIn(account: string): Promise<string> {
  const jar = new Map<string, string>();
  const remember = (response: Response): void => {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const eq = (pair as string).indexOf('=');
      jar.set((pair as string).slice(0, eq), (pair as string).slice(eq + 1));
    }
  };
  const cookieHeader = (): string => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const response = await fetch(new URL(url, issuer), { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: cookieHeader() } });
    remember(response);
    return response;
  };

  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const redirectUri = 'http://127.0.0.1:1/callback';
  const authorize = new URLSearchParams({
    client_id: CLIENT_ID, response_type: 'code', scope: 'openid email profile', redirect_uri: redirectUri,
    code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz', nonce: 'n-0S6_WzA2Mj',
  });
  let response = await go(`/auth?${authorize}`);
  let code: string | null = null;
  for (let step = 0; step < 10 && code === null; step++) {
    const location = response.headers.get('location');
    assert.ok(location, `expected a redirect, got ${response.status}: ${await response.text()}`);
    const next = new URL(location, issuer);
    if (next.href.startsWith(redirectUri)) {
      code = next.searchParams.get('code');
      break;
    }
    if (next.pathname.startsWith('/interaction/')) {
      const page = await (await go(next.href)).text();
      const prompt: Record<string, string> = page.includes('name="login"') ? { prompt: 'login', login: account, password: 'anything' } : { prompt: 'consent' };
      response = await go(next.pathname, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(prompt).toString() });
    } else {
      response = await go(next.href);
    }
  }
  assert.ok(code, 'the flow ended with an authorization code');
  const token = await fetch(`${issuer}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, client_id: CLIENT_ID }).toString(),
  });
  const body = (await token.json()) as { id_token?: string };
  assert.ok(body.id_token, JSON.stringify(body));
  return body.id_token;
}

const configureIssuer = (audience = CLIENT_ID) => h.api('POST', '/api/v1/identity-providers', { body: { name: 'corp', issuer, audience, jwks_uri: `${issuer}/jwks` } });
const removeIssuer = () => h.api('DELETE', '/api/v1/identity-providers/corp');
const whoami = (token: string) => h.api('GET', '/api/v1/whoami', { token });

before(async () => {
  h = await startMandate();
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  providerKey = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'corp-1', alg: 'RS256', use: 'sig' };
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1:1/callback'], grant_types: ['authorization_code'], response_types: ['code'] }],
    jwks: { keys: [providerKey] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: `${id}@corp.example`, name: `${id[0]?.toUpperCase()}${id.slice(1)}` }) }),
    claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
    conformIdTokenClaims: false,
    ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 3600 },
  });
  await new Promise<void>((resolve) => {
    idp = provider.listen(port, '127.0.0.1', resolve);
  });
  idToken = await signIn('carol');
});

after(async () => {
  await new Promise<void>((resolve) => idp.close(() => resolve()));
  idp.closeAllConnections();
  await h.close();
});

describe('external OIDC issuer', () => {
  it('refuses its tokens while the issuer is not configured', async () => {
    const answer = await whoami(idToken);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.code, 'issuer_not_trusted');
    assert.equal(answer.headers.get('content-type'), 'application/problem+json');
  });

  it('refuses them when configured for another audience', async () => {
    assert.equal((await configureIssuer('some-other-client')).status, 201);
    try {
      const answer = await whoami(idToken);
      assert.equal(answer.status, 401);
      assert.match(String(answer.body.detail), /aud/);
    } finally {
      assert.equal((await removeIssuer()).status, 200);
    }
  });

  it('accepts them once configured: the person exists and can grant mandates', async () => {
    assert.equal((await configureIssuer()).status, 201);
    const me = await whoami(idToken);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.deepEqual(me.body, { kind: 'person', id: 'carol' });

    const person = await h.api('GET', '/api/v1/users/carol');
    assert.equal(person.body.issuer, issuer);
    assert.equal(person.body.email, 'carol@corp.example');
    assert.equal(person.body.name, 'Carol');

    await h.api('POST', '/api/v1/servers', { body: { name: 'fs', command: 'true', tools: [{ name: 'read_file' }] } });
    const added = await h.api('POST', '/api/v1/agents', { token: idToken, body: { name: 'carol-bot', owner: 'carol', purpose: 'reports' } });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const key = generateAgentKey();
    const enrolled = await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: key.publicJwk } });
    assert.equal(enrolled.status, 200);
    const granted = await h.api('POST', '/api/v1/mandates', { token: idToken, body: { agent: (added.body.agent as { id: string }).id, purpose: 'Q3 report', allow: ['fs/read_file'] } });
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    assert.equal((granted.body.mandate as { grantor: string }).grantor, 'carol');
  });

  it('refuses a token signed by a key outside the issuer\'s JWKS', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const forged = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'RS256', kid: 'corp-1' })
      .setIssuer(issuer).setAudience(CLIENT_ID).setIssuedAt(now).setExpirationTime(now + 600).sign(privateKey);
    const answer = await whoami(forged);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.code, 'token_invalid');
  });

  it('refuses an expired token from the issuer', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'RS256', kid: 'corp-1' })
      .setIssuer(issuer).setAudience(CLIENT_ID).setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(await importJWK(providerKey, 'RS256'));
    const answer = await whoami(expired);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.code, 'token_expired');
  });

  it('refuses a deactivated person, then accepts them again', async () => {
    assert.equal((await h.api('POST', '/api/v1/users/carol/deactivate')).status, 200);
    const refused = await whoami(idToken);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'person_inactive');
    assert.equal((await h.api('POST', '/api/v1/users/carol/activate')).status, 200);
    assert.equal((await whoami(idToken)).status, 200);
  });

  it('refuses its tokens again once the issuer is removed', async () => {
    assert.equal((await removeIssuer()).status, 200);
    const answer = await whoami(idToken);
    assert.equal(answer.status, 401);
    assert.equal(answer.body.code, 'issuer_not_trusted');
  });
});
