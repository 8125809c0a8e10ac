// The store contract: signing keys, identity providers, the admin credential and revoked tokens.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateSigningKey } from '../../identity/keyring.ts';
import type { IdentityProvider } from '../types.ts';
import type { ContractContext } from './context.ts';
import { NOW, rejectsWith } from './fixtures.ts';

export function identityContract(t: ContractContext): void {
  describe('signing keys', () => {
    it('rotates: next signs, current retires until its time, a new next is published', async () => {
      const current = generateSigningKey('current', NOW);
      const next = generateSigningKey('next', NOW);
      await t.store.addSigningKey(current);
      await t.store.addSigningKey(next);
      assert.deepEqual((await t.store.listSigningKeys()).map((k) => [k.kid, k.state]).sort(), [[current.kid, 'current'], [next.kid, 'next']].sort());
      assert.deepEqual((await t.store.listSigningKeys()).find((k) => k.kid === current.kid), current);

      const third = generateSigningKey('next', NOW + 100);
      await t.store.rotateSigningKeys(third, NOW + 200, NOW + 100);
      const states = new Map((await t.store.listSigningKeys()).map((k) => [k.kid, k]));
      assert.equal(states.get(current.kid)?.state, 'retiring');
      assert.equal(states.get(current.kid)?.retireAfter, NOW + 200);
      assert.equal(states.get(next.kid)?.state, 'current');
      assert.equal(states.get(third.kid)?.state, 'next');
      assert.equal(states.get(third.kid)?.retireAfter, null);
      assert.deepEqual(states.get(third.kid)?.privateJwk, third.privateJwk);

      await t.store.rotateSigningKeys(generateSigningKey('next', NOW + 300), NOW + 400, NOW + 300);
      const after = new Map((await t.store.listSigningKeys()).map((k) => [k.kid, k.state]));
      assert.equal(after.has(current.kid), false, 'a retiring key past its time is dropped');
      assert.equal(after.get(next.kid), 'retiring');
      assert.equal(after.get(third.kid), 'current');
      assert.equal([...after.values()].filter((s) => s === 'current').length, 1);

      await t.store.rotateSigningKeys(generateSigningKey('next', NOW + 350), NOW + 450, NOW + 350);
      const later = new Map((await t.store.listSigningKeys()).map((k) => [k.kid, k]));
      assert.equal(later.get(next.kid)?.state, 'retiring', 'a retiring key whose tokens may still be live is kept');
      assert.equal(later.get(next.kid)?.retireAfter, NOW + 400);
      assert.equal(later.get(third.kid)?.retireAfter, NOW + 450);
      assert.equal(later.size, 4);
    });
  });
  describe('identity providers', () => {
    const corp: IdentityProvider = { name: 'corp', issuer: 'https://idp.example', audience: 'mandate', jwksUri: 'https://idp.example/jwks', subjectClaim: 'email', createdAt: NOW };

    it('adds, lists and removes providers', async () => {
      await t.store.addIdentityProvider(corp);
      assert.deepEqual(await t.store.listIdentityProviders(), [corp]);
      assert.equal(await t.store.removeIdentityProvider('corp'), true);
      assert.equal(await t.store.removeIdentityProvider('corp'), false);
      assert.deepEqual(await t.store.listIdentityProviders(), []);
    });

    it('refuses a duplicate name or issuer', async () => {
      await t.store.addIdentityProvider(corp);
      await rejectsWith(t.store.addIdentityProvider({ ...corp, issuer: 'https://other.example' }), 'identity_provider_exists', 409);
      await rejectsWith(t.store.addIdentityProvider({ ...corp, name: 'corp2' }), 'identity_provider_exists', 409);
      assert.equal((await t.store.listIdentityProviders()).length, 1);
    });
  });
  describe('admin credentials and revoked tokens', () => {
    it('recognises registered admin credential hashes only', async () => {
      assert.equal(await t.store.isAdminCredential('h1'), false);
      await t.store.addAdminCredential('h1', NOW);
      await t.store.addAdminCredential('h1', NOW);
      assert.equal(await t.store.isAdminCredential('h1'), true);
      assert.equal(await t.store.isAdminCredential('h2'), false);
    });

    it('keeps a revoked token id until the token would have expired', async () => {
      await t.store.revokeTokenId('jti-1', NOW + 300);
      assert.equal(await t.store.isTokenIdRevoked('jti-1', NOW), true);
      assert.equal(await t.store.isTokenIdRevoked('jti-1', NOW + 300), true);
      assert.equal(await t.store.isTokenIdRevoked('jti-1', NOW + 301), false);
      assert.equal(await t.store.isTokenIdRevoked('jti-2', NOW), false);
    });
  });
}
