// People from an external OpenID provider: a real `oidc-provider` (a certified OpenID
// Connect implementation) issues ID tokens through the authorization-code flow (its own
// login and consent pages, driven with fetch), and Mandate accepts them as person tokens
// only while that issuer is configured, for the configured audience, signed by a key of
// the issuer's JWKS, unexpired, and for a person who is still active.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import Provider from 'oidc-provider';
import { generateAgentKey } from '../src/client/agent-key.ts';
import { freePort, startMandate, type Harness } from './harness.ts';

const CLIENT_ID = 'mandate-console';
const REDIRECT_URI = 'http://127.0.0.1:1/callback'; // never fetched: the flow stops at the redirect carrying the code

let h: Harness;
let idp: Server;
let issuer: string;
let idToken: string;
/** The provider's ID token lifetime, read at issuance (so one test can get a short-lived token). */
let idTokenTtl = 3600;

type Answer = Awaited<ReturnType<Harness['api']>>;

/** Signs `account` in through the provider's authorization-code flow (PKCE) and answers the ID token. */
async function signIn(account: string): Promise<string> {
  const jar = new Map<string, string>();
  const go = async (url: string, init: RequestInit = {}): Promise<Response> => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const response = await fetch(new URL(url, issuer), { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie } });
    for (const set of response.headers.getSetCookie()) {
      const pair = set.split(';')[0] as string;
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return response;
  };

  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URLSearchParams({
    client_id: CLIENT_ID, response_type: 'code', scope: 'openid email profile', redirect_uri: REDIRECT_URI,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'),
  });
  let response = await go(`/auth?${authorize}`);
  let code: string | null = null;
  const prompts: string[] = [];
  for (let step = 0; step < 10 && code === null; step++) {
    const location = response.headers.get('location');
    assert.ok(location, `expected a redirect, got ${response.status}: ${await response.text()}`);
    const next = new URL(location, issuer);
    if (next.href.startsWith(REDIRECT_URI)) {
      assert.equal(next.searchParams.get('error'), null, next.href);
      code = next.searchParams.get('code');
    } else if (next.pathname.startsWith('/interaction/')) {
      // The dev interactions: a login form (any password), then a consent form.
      const page = await (await go(next.href)).text();
      const form: Record<string, string> = page.includes('name="login"') ? { prompt: 'login', login: account, password: 'any' } : { prompt: 'consent' };
      prompts.push(form.prompt as string);
      response = await go(next.pathname, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
    } else {
      response = await go(next.href);
    }
  }
  assert.ok(code, 'the flow ended with an authorization code');
  assert.ok(prompts.includes('login'), `the provider asked for a login (prompts: ${prompts.join(', ')})`);
  const token = await fetch(`${issuer}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, client_id: CLIENT_ID }).toString(),
  });
  const body = (await token.json()) as { id_token?: string };
  assert.equal(token.status, 200, JSON.stringify(body));
  assert.ok(body.id_token, JSON.stringify(body));
  return body.id_token;
}

const configureIssuer = async (audience = CLIENT_ID): Promise<void> => {
  const added = await h.api('POST', '/api/v1/identity-providers', { body: { name: 'corp', issuer, audience, jwks_uri: `${issuer}/jwks` } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
};
const removeIssuer = async (): Promise<void> => {
  const removed = await h.api('DELETE', '/api/v1/identity-providers/corp');
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
};
const whoami = (token: string) => h.api('GET', '/api/v1/whoami', { token });

/** Registers an agent (with the admin credential) and enrolls a fresh key for it; answers its id. */
async function enrolledAgent(name: string, owner: string): Promise<string> {
  const added = await h.api('POST', '/api/v1/agents', { body: { name, owner, purpose: 'reports' } });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const enrolled = await h.api('POST', '/api/v1/agents/enroll', { token: null, body: { enrollment_token: added.body.enrollment_token, jwk: generateAgentKey().publicJwk } });
  assert.equal(enrolled.status, 200, JSON.stringify(enrolled.body));
  return (added.body.agent as { id: string }).id;
}

function assertRefused(answer: Answer, code?: string): void {
  assert.equal(answer.status, 401, JSON.stringify(answer.body));
  assert.equal(answer.headers.get('content-type'), 'application/problem+json');
  if (code !== undefined) assert.equal(answer.body.code, code, JSON.stringify(answer.body));
}

before(async () => {
  // A small clock tolerance so that a short-lived provider token can be seen to expire
  // within the test; the provider and Mandate share this machine's clock.
  h = await startMandate({ clockTolerance: 1 });
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, token_endpoint_auth_method: 'none', redirect_uris: [REDIRECT_URI], grant_types: ['authorization_code'], response_types: ['code'] }],
    jwks: { keys: [{ ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'corp-1', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, email: `${id}@corp.example`, name: `${id[0]?.toUpperCase()}${id.slice(1)}` }) }),
    claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
    conformIdTokenClaims: false, // put email and name in the ID token itself
    ttl: { AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: () => idTokenTtl },
  });
  await new Promise<void>((resolve) => {
    idp = provider.listen(port, '127.0.0.1', resolve);
  });
  idToken = await signIn('carol');
  // Local people Mandate already knows, through its embedded directory.
  assert.equal((await h.api('POST', '/api/v1/users', { body: { id: 'alice' } })).status, 201);
  assert.equal((await h.api('POST', '/api/v1/users', { body: { id: 'erin' } })).status, 201);
});

after(async () => {
  idp.closeAllConnections();
  await new Promise<void>((resolve) => idp.close(() => resolve()));
  await h.close();
});

describe('ID tokens from a real OpenID provider', () => {
  it('are refused while the issuer is not configured, and no person is created', async () => {
    assertRefused(await whoami(idToken), 'issuer_not_trusted');
    assert.equal((await h.api('GET', '/api/v1/users/carol')).status, 404);
  });

  it('are refused when the issuer is configured for another audience', async () => {
    await configureIssuer('some-other-client');
    try {
      const answer = await whoami(idToken);
      assertRefused(answer, 'token_claim_invalid');
      assert.match(String(answer.body.detail), /aud/);
      assert.equal((await h.api('GET', '/api/v1/users/carol')).status, 404);
    } finally {
      await removeIssuer();
    }
  });

  it('are accepted once configured: the person is created on first sight and can grant a mandate to their agent', async () => {
    await configureIssuer();
    const me = await whoami(idToken);
    assert.equal(me.status, 200, JSON.stringify(me.body));
    assert.deepEqual(me.body, { kind: 'person', id: 'carol' });

    const person = await h.api('GET', '/api/v1/users/carol');
    assert.equal(person.status, 200);
    assert.equal(person.body.issuer, issuer);
    assert.equal(person.body.email, 'carol@corp.example');
    assert.equal(person.body.name, 'Carol');

    assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'fs', command: 'true', tools: [{ name: 'read_file' }] } })).status, 201);
    const granted = await h.api('POST', '/api/v1/mandates', { token: idToken, body: { agent: await enrolledAgent('carol-bot', 'carol'), purpose: 'Q3 report', allow: ['fs/read_file'] } });
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    assert.equal((granted.body.mandate as { grantor: string }).grantor, 'carol');
    assert.equal(typeof granted.body.mandate_token, 'string');

    // Same rules as for anyone else: not for an agent someone else owns.
    const refused = await h.api('POST', '/api/v1/mandates', { token: idToken, body: { agent: await enrolledAgent('alice-bot', 'alice'), purpose: 'not mine', allow: ['fs/read_file'] } });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'grant_denied');
  });

  it('are refused when re-signed by a key outside the issuer\'s JWKS', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const claims = decodeJwt(idToken);
    const { kid } = decodeProtectedHeader(idToken);
    assert.equal(claims.iss, issuer);
    // The very claims of carol's real token (iss, aud, sub, exp…), under the provider's kid.
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: kid as string }).sign(privateKey);
    assertRefused(await whoami(forged), 'token_invalid');
    // …and under a kid the issuer does not publish.
    const unknownKid = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'not-corp' }).sign(privateKey);
    assertRefused(await whoami(unknownKid), 'token_kid_unknown');
  });

  it('are refused once the provider\'s token has expired', async () => {
    idTokenTtl = 2;
    let short: string;
    try {
      short = await signIn('dave');
    } finally {
      idTokenTtl = 3600;
    }
    const { exp, iat } = decodeJwt(short);
    assert.equal((exp as number) - (iat as number), 2, 'the provider issued a 2-second ID token');
    assert.deepEqual((await whoami(short)).body, { kind: 'person', id: 'dave' });
    await sleep(((exp as number) + h.config.clockTolerance) * 1000 - Date.now() + 50);
    assertRefused(await whoami(short), 'token_expired');
  });

  it('are refused for a person the admin deactivated, and accepted again once reactivated', async () => {
    assert.equal((await h.api('POST', '/api/v1/users/carol/deactivate')).status, 200);
    assertRefused(await whoami(idToken), 'person_inactive');
    const refused = await h.api('POST', '/api/v1/mandates', { token: idToken, body: { agent: 'anything', purpose: 'x', allow: ['fs/read_file'] } });
    assert.equal(refused.status, 401);
    assert.equal((await h.api('POST', '/api/v1/users/carol/activate')).status, 200);
    assert.deepEqual((await whoami(idToken)).body, { kind: 'person', id: 'carol' });
  });

  it('do not let an external subject speak for a local person of the same id', async () => {
    const token = await signIn('erin');
    assertRefused(await whoami(token), 'person_exists');
    const erin = await h.api('GET', '/api/v1/users/erin');
    assert.equal(erin.body.issuer, null, 'erin is still the local person');
    // The local erin still signs in through Mandate itself.
    const login = await h.api('POST', '/api/v1/users/erin/login');
    assert.deepEqual((await whoami(String(login.body.token))).body, { kind: 'person', id: 'erin' });
  });

  it('are refused again once the issuer is removed', async () => {
    await removeIssuer();
    assertRefused(await whoami(idToken), 'issuer_not_trusted');
    // The person stays on record (their mandates keep a grantor) but cannot sign in.
    assert.equal((await h.api('GET', '/api/v1/users/carol')).body.issuer, issuer);
  });
});
