// The store contract: sealed credentials.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { SealedCredential } from '../types.ts';
import type { ContractContext } from './context.ts';
import { NOW, rejectsWith } from './fixtures.ts';

export function credentialContract(t: ContractContext): void {
  describe('credentials', () => {
    const sealed = (id: string, overrides: Partial<SealedCredential> = {}): SealedCredential => ({
      id, name: `cred-${id}`, server: 'api', injection: { kind: 'header', header: 'authorization', format: 'Bearer {secret}' },
      sealed: new Uint8Array([1, 2, 3, id.length]), wrappedKey: new Uint8Array([9, 8, 7]), kekId: 'kek_a', createdAt: NOW, rotatedAt: null, rewrappedAt: null, ...overrides,
    });
    beforeEach(async () => {
      await t.store.createServer({ name: 'api', upstream: { transport: 'http', url: 'https://api.example/mcp' }, environment: null, createdAt: NOW }, []);
      await t.store.createServer({ name: 'fs', upstream: { transport: 'stdio', command: 'fs', args: [] }, environment: null, createdAt: NOW }, []);
    });

    it('stores sealed credentials as given and lists them by server and name', async () => {
      const a = sealed('crd_a');
      const b = sealed('crd_b', { name: 'a-first', server: 'fs', injection: { kind: 'env', variable: 'TOKEN' } });
      await t.store.createCredential(a);
      await t.store.createCredential(b);
      assert.deepEqual(await t.store.getCredential('crd_a'), a);
      assert.deepEqual(await t.store.getCredential('crd_b'), b);
      assert.equal(await t.store.getCredential('crd_none'), null);
      assert.deepEqual((await t.store.listCredentials()).map((c) => c.id), ['crd_a', 'crd_b']);
      assert.deepEqual((await t.store.listCredentials({ server: 'fs' })).map((c) => c.id), ['crd_b']);
      assert.deepEqual(await t.store.listCredentials({ server: 'none' }), []);
    });

    it('refuses a taken name, a server\'s header or variable already injected, and an unknown server', async () => {
      await t.store.createCredential(sealed('crd_a'));
      await rejectsWith(t.store.createCredential(sealed('crd_b', { name: 'cred-crd_a', injection: { kind: 'header', header: 'x-key', format: '{secret}' } })), 'credential_exists', 409);
      await rejectsWith(t.store.createCredential(sealed('crd_c')), 'credential_target_taken', 409);
      await t.store.createCredential(sealed('crd_d', { injection: { kind: 'header', header: 'x-key', format: '{secret}' } }));
      await rejectsWith(t.store.createCredential(sealed('crd_e', { server: 'nowhere' })), 'server_not_found', 400);
      assert.deepEqual((await t.store.listCredentials()).map((c) => c.id), ['crd_a', 'crd_d']);
    });

    it('replaces a secret, and removes a credential', async () => {
      await t.store.createCredential(sealed('crd_a'));
      const replaced = await t.store.replaceCredentialSecret('crd_a', { sealed: new Uint8Array([4, 4]), wrappedKey: new Uint8Array([5]), kekId: 'kek_b' }, NOW + 10);
      assert.deepEqual([replaced?.sealed, replaced?.wrappedKey, replaced?.kekId, replaced?.rotatedAt], [new Uint8Array([4, 4]), new Uint8Array([5]), 'kek_b', NOW + 10]);
      assert.deepEqual((await t.store.listCredentials({ server: 'api' }))[0]?.kekId, 'kek_b');
      assert.equal(await t.store.replaceCredentialSecret('crd_none', { sealed: new Uint8Array(1), wrappedKey: new Uint8Array(1), kekId: 'k' }, NOW), null);
      assert.equal(await t.store.removeCredential('crd_a'), true);
      assert.equal(await t.store.removeCredential('crd_a'), false);
      assert.deepEqual(await t.store.listCredentials({ server: 'api' }), []);
    });

    it('rewraps data keys all together, or not at all when one moved meanwhile', async () => {
      await t.store.createCredential(sealed('crd_a'));
      await t.store.createCredential(sealed('crd_b', { injection: { kind: 'header', header: 'x-key', format: '{secret}' } }));
      await t.store.rewrapCredentialKeys([
        { id: 'crd_a', fromKekId: 'kek_a', wrappedKey: new Uint8Array([1]), kekId: 'kek_new' },
        { id: 'crd_b', fromKekId: 'kek_a', wrappedKey: new Uint8Array([2]), kekId: 'kek_new' },
      ], NOW + 5);
      const after = await t.store.listCredentials();
      assert.deepEqual(after.map((c) => [c.kekId, c.wrappedKey, c.rewrappedAt, c.sealed]), [
        ['kek_new', new Uint8Array([1]), NOW + 5, sealed('crd_a').sealed], ['kek_new', new Uint8Array([2]), NOW + 5, sealed('crd_b').sealed],
      ]);
      await rejectsWith(t.store.rewrapCredentialKeys([
        { id: 'crd_a', fromKekId: 'kek_new', wrappedKey: new Uint8Array([3]), kekId: 'kek_z' },
        { id: 'crd_b', fromKekId: 'kek_a', wrappedKey: new Uint8Array([4]), kekId: 'kek_z' },
      ], NOW + 6), 'credential_changed', 409);
      assert.deepEqual((await t.store.listCredentials()).map((c) => c.kekId), ['kek_new', 'kek_new'], 'nothing changed');
    });
  });
}
