// Key rotation as a relying party sees it: a key is in the JWKS before it signs, and
// a replaced key stays published — and its tokens valid — until they have expired.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { decodeProtectedHeader } from 'jose';
import { nowSeconds } from '../src/lib/clock.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';

let h: Harness;

before(async () => {
  h = await startMandate();
});
after(() => h.close());

const jwks = async (): Promise<Array<JsonWebKey & { kid: string }>> => (await h.api('GET', '/.well-known/jwks.json', { token: null })).body.keys as Array<JsonWebKey & { kid: string }>;
const keyStates = async (): Promise<Record<string, string>> =>
  Object.fromEntries(((await h.api('GET', '/api/v1/keys')).body.keys as Array<{ kid: string; state: string }>).map((k) => [k.kid, k.state]));

/** Verifies a token's signature against the published JWKS with node:crypto directly. */
async function verifiesAgainstJwks(token: string): Promise<boolean> {
  const { kid } = decodeProtectedHeader(token);
  const jwk = (await jwks()).find((k) => k.kid === kid);
  if (!jwk) return false;
  const [header, payload, signature] = token.split('.') as [string, string, string];
  return verify('sha256', Buffer.from(`${header}.${payload}`), { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
}

const introspect = async (token: string) => (await h.form('/oauth/introspect', { token }, { authorization: `Bearer ${h.adminToken}` })).body;

it('publishes the next key before it signs, and keeps the old one until its tokens expire', async () => {
  const initial = await keyStates();
  const published = (await jwks()).map((k) => k.kid).sort();
  assert.deepEqual(published, Object.keys(initial).sort(), 'current and next are both published');
  assert.equal(Object.values(initial).filter((s) => s === 'current').length, 1);
  const nextKid = Object.keys(initial).find((kid) => initial[kid] === 'next') as string;
  const currentKid = Object.keys(initial).find((kid) => initial[kid] === 'current') as string;
  assert.ok((await jwks()).every((k) => !('d' in k)), 'no private key material is published');

  const s = await grantScenario(h);
  const before = String((await exchange(h, s)).body.access_token);
  assert.equal(decodeProtectedHeader(before).kid, currentKid);

  const rotated = await h.api('POST', '/api/v1/keys/rotate');
  assert.equal(rotated.status, 200);
  assert.equal(rotated.body.current, nextKid, 'the pre-published key is the one that now signs');
  const after = await keyStates();
  assert.equal(after[currentKid], 'retiring');
  assert.equal(after[nextKid], 'current');
  const newNext = rotated.body.next as string;
  assert.equal(after[newNext], 'next');
  assert.deepEqual((await jwks()).map((k) => k.kid).sort(), [currentKid, nextKid, newNext].sort());

  const afterToken = String((await exchange(h, s)).body.access_token);
  assert.equal(decodeProtectedHeader(afterToken).kid, nextKid);
  assert.ok(await verifiesAgainstJwks(afterToken));
  assert.ok(await verifiesAgainstJwks(before), 'a token signed before the rotation still verifies');
  assert.equal((await introspect(before)).active, true);
  assert.equal((await exchange(h, s)).status, 200, 'the mandate token signed by the old key still works');
});

it('drops a retired key after its retirement time and refuses its tokens from then on', async () => {
  const s = await grantScenario(h);
  const token = String((await exchange(h, s)).body.access_token);
  const oldKid = String(decodeProtectedHeader(token).kid);
  const now = nowSeconds();
  await h.app.keys.rotate(60, now);
  assert.ok((await jwks()).some((k) => k.kid === oldKid));
  assert.deepEqual(h.app.keys.jwks(now + 61).keys.map((k) => k.kid).includes(oldKid), false);
  assert.throws(() => h.app.tokens.verify('task', token, `${h.url}/mcp/fs`, now + 61), /not in the published key set/);
});

it('needs the admin credential to rotate', async () => {
  const s = await grantScenario(h);
  const before = await keyStates();
  assert.equal((await h.api('POST', '/api/v1/keys/rotate', { token: s.personToken })).status, 403);
  assert.deepEqual(await keyStates(), before);
});
