// Signing-key rotation as a relying party sees it through the published JWKS: a key is
// published before it signs; a replaced key stays published, and its tokens stay
// good, until its retirement time; after that it is gone and its tokens are refused.
// Signatures are checked with jsonwebtoken + jwks-rsa, not with Mandate's own code.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, expectOAuthError, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';

let h: Harness;
let s: Scenario;

before(async () => {
  h = await startMandate();
  s = await grantScenario(h);
});
after(() => h.close());

const publishedKids = async (): Promise<string[]> => {
  const response = await fetch(`${h.url}/.well-known/jwks.json`);
  assert.equal(response.status, 200);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort();
};

const keyStates = async (): Promise<Record<string, string>> =>
  Object.fromEntries(((await h.api('GET', '/api/v1/keys')).body.keys as Array<{ kid: string; state: string }>).map((k) => [k.kid, k.state]));

const kidOf = (token: string): string => String(jwt.decode(token, { complete: true })?.header.kid);

const taskToken = async (): Promise<string> => {
  const answer = await exchange(h, s);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return String(answer.body.access_token);
};

/** Verifies a task token the way a resource server would: the key looked up by kid in the served JWKS. */
function verifyAgainstJwks(token: string): Promise<jwt.JwtPayload> {
  const jwks = new JwksClient({ jwksUri: `${h.url}/.well-known/jwks.json`, cache: false });
  const getKey: jwt.GetPublicKeyOrSecret = (header, callback) => {
    jwks.getSigningKey(header.kid).then((key) => callback(null, key.getPublicKey()), (error: Error) => callback(error));
  };
  return new Promise((resolve, reject) => {
    jwt.verify(token, getKey, { algorithms: ['ES256'], issuer: h.url, audience: `${h.url}/mcp/fs` }, (error, payload) => (error ? reject(error) : resolve(payload as jwt.JwtPayload)));
  });
}

const introspect = async (token: string) => (await h.form('/oauth/introspect', { token }, { authorization: `Bearer ${h.adminToken}` })).body;

let firstCurrent: string;
let firstNext: string;
let tokenBeforeRotation: string;

it('publishes the current key and the next one, and signs with the current', async () => {
  const states = await keyStates();
  assert.equal(Object.keys(states).length, 2);
  firstCurrent = Object.keys(states).find((kid) => states[kid] === 'current') as string;
  firstNext = Object.keys(states).find((kid) => states[kid] === 'next') as string;
  assert.ok(firstCurrent && firstNext);
  assert.deepEqual(await publishedKids(), [firstCurrent, firstNext].sort());

  tokenBeforeRotation = await taskToken();
  assert.equal(kidOf(tokenBeforeRotation), firstCurrent);
  assert.equal(kidOf(s.mandateToken), firstCurrent);
  assert.equal(kidOf(s.personToken), firstCurrent);
  assert.equal((await verifyAgainstJwks(tokenBeforeRotation)).mandate_id, s.mandateId);
});

it('rotates to the pre-published key, keeps the old one published and its tokens good, and publishes a new next key', async () => {
  const publishedBefore = await publishedKids();
  const rotated = await h.api('POST', '/api/v1/keys/rotate');
  assert.equal(rotated.status, 200);
  assert.equal(rotated.body.current, firstNext);
  const thirdKid = String(rotated.body.next);
  assert.ok(![firstCurrent, firstNext].includes(thirdKid));

  const tokenAfterRotation = await taskToken();
  assert.equal(kidOf(tokenAfterRotation), firstNext, 'the former next key signs new tokens');
  assert.ok(publishedBefore.includes(firstNext), 'and it was published before it signed');
  assert.equal((await verifyAgainstJwks(tokenAfterRotation)).mandate_id, s.mandateId);

  assert.deepEqual(await publishedKids(), [firstCurrent, firstNext, thirdKid].sort());
  assert.deepEqual(await keyStates(), { [firstCurrent]: 'retiring', [firstNext]: 'current', [thirdKid]: 'next' });

  // Tokens the former current key signed still verify and still stand.
  assert.equal((await verifyAgainstJwks(tokenBeforeRotation)).mandate_id, s.mandateId);
  assert.equal((await introspect(tokenBeforeRotation)).active, true);
  assert.equal((await h.api('GET', '/api/v1/whoami', { token: s.personToken })).body.id, 'alice', 'person tokens from the old key still work');
  assert.equal(kidOf(await taskToken()), firstNext, 'mandate tokens from the old key still exchange');
});

it('drops a replaced key once its retirement time has passed and refuses its tokens', async () => {
  const fresh = await grantScenario(h, { person: 'bob' });
  const token = String((await exchange(h, fresh)).body.access_token);
  const signer = kidOf(token);
  assert.equal(signer, firstNext);

  const now = nowSeconds();
  await h.app.keys.rotate(1, now);
  assert.ok((await publishedKids()).includes(signer), 'still published right after the rotation');
  assert.equal((await introspect(token)).active, true);

  const later = now + 2;
  assert.ok(!h.app.keys.jwks(later).keys.some((k) => k.kid === signer), 'gone from the JWKS after its retirement time');
  assert.ok(h.app.keys.jwks(later).keys.some((k) => k.kid === firstCurrent), 'a key retiring later stays');
  assert.throws(() => h.app.tokens.verify('task', token, `${h.url}/mcp/fs`, later), /not in the published key set/);
  assert.deepEqual(await h.app.introspection.introspect({ kind: 'admin' }, token, later), { active: false });

  // Over HTTP, once the real clock has passed the retirement time too.
  while (nowSeconds() <= now + 1) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!(await publishedKids()).includes(signer));
  await assert.rejects(verifyAgainstJwks(token), /Unable to find a signing key/);
  assert.deepEqual(await introspect(token), { active: false });
  expectOAuthError(await exchange(h, fresh), 'invalid_grant', 'token_kid_unknown');
});
