// The store contract: the audit ledger: events, tree hashes, checkpoints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { entryLeafHash, ledgerEntry } from '../../audit/entry.ts';
import type { AuditEvent } from '../../audit/event.ts';
import { inclusionProof, merkleTreeHash, treeHashAt, verifyInclusion, type HashReader } from '../../audit/merkle/index.ts';
import type { ContractContext } from './context.ts';
import { NOW } from './fixtures.ts';

export function auditContract(t: ContractContext): void {
  describe('audit events', () => {
    const event = (i: number): AuditEvent => ({
      kind: 'decision', time: NOW * 1000 + i, server: 'fs', person: 'alice', agents: ['spiffe://mandate.test/agent/bot'], mandate: 'mnd_1', purpose: 'a task',
      method: 'tools/call', tool: 'read_file', argumentsDigest: `sha256:${i}`, decision: i % 2 === 0 ? 'allow' : 'deny', reason: null, policies: ['p'],
      policySetHash: 'sha256:x', outcome: null, latencyMs: null,
    });

    const hx = (hash: Uint8Array): string => Buffer.from(hash).toString('hex');
    const hashes: HashReader = { readHashes: (positions) => t.store.readAuditHashes(positions) };
    const leaves = async (): Promise<Uint8Array[]> => (await t.store.readAuditEntries(0, (await t.store.auditTreeHead()).size)).map((e) => entryLeafHash(e));

    it('makes each event a leaf of the Merkle tree, its hash the leaf hash of its entry, across batches', async () => {
      const first = await t.store.appendAuditEvents([event(1), event(2)]);
      const second = await t.store.appendAuditEvents([event(3)]);
      assert.deepEqual([...first, ...second].map((e) => e.seq), [1, 2, 3]);
      const entries = await t.store.readAuditEntries(0, 3);
      assert.deepEqual(entries, [1, 2, 3].map((i) => ledgerEntry(i, event(i))), 'the entry is the event as JSON, its seq first');
      assert.deepEqual([...first, ...second].map((e) => e.hash), entries.map((e) => entryLeafHash(e).toString('hex')));
      const head = await t.store.auditTreeHead();
      assert.equal(head.size, 3);
      assert.equal(hx(head.rootHash), hx(merkleTreeHash(await leaves())));
      assert.deepEqual((await t.store.listAuditEvents({ limit: 10 })).map((e) => e.argumentsDigest), ['sha256:1', 'sha256:2', 'sha256:3']);
      assert.equal((await t.store.getAuditEvent(2))?.argumentsDigest, 'sha256:2');
      assert.equal(await t.store.getAuditEvent(4), null);
    });

    it('stores the tile hashes above the leaves, so roots and proofs come from the store', async () => {
      for (let batch = 0; batch < 6; batch++) await t.store.appendAuditEvents(Array.from({ length: 50 }, (_, i) => event(batch * 50 + i)));
      const head = await t.store.auditTreeHead();
      assert.equal(head.size, 300);
      const all = await leaves();
      assert.equal(hx(head.rootHash), hx(merkleTreeHash(all)));
      assert.equal(hx(await treeHashAt(hashes, 300)), hx(head.rootHash), 'the root recomputed from the stored hashes');
      assert.equal(hx(await treeHashAt(hashes, 257)), hx(merkleTreeHash(all.slice(0, 257))));
      const [level1] = await t.store.readAuditHashes([{ level: 1, index: 0 }]);
      assert.equal(hx(level1 as Uint8Array), hx(merkleTreeHash(all.slice(0, 256))), 'the first 256 entries complete one level-1 hash');
      await assert.rejects(t.store.readAuditHashes([{ level: 1, index: 1 }]), (error: unknown) => (error as { code?: string }).code === 'hash_missing');
      await assert.rejects(t.store.readAuditHashes([{ level: 0, index: 300 }]), (error: unknown) => (error as { code?: string }).code === 'hash_missing');
      const proof = await inclusionProof(hashes, 123, 300);
      verifyInclusion({ leafIndex: 123, treeSize: 300, leafHash: all[123] as Uint8Array, proof, rootHash: head.rootHash });
    });

    it('rolls the tree back with a failed append', async () => {
      await t.store.appendAuditEvents([event(1)]);
      await assert.rejects(t.store.appendAuditEvents([event(2), { countCall: { mandateId: 'mnd_none', now: NOW }, event: () => { throw new Error('cannot build'); } }]));
      await t.store.appendAuditEvents([event(3)]);
      const head = await t.store.auditTreeHead();
      assert.equal(head.size, 2);
      assert.equal(hx(head.rootHash), hx(merkleTreeHash(await leaves())));
      assert.deepEqual((await t.store.listAuditEvents({ limit: 10 })).map((e) => [e.seq, e.argumentsDigest]), [[1, 'sha256:1'], [2, 'sha256:3']]);
    });

    it('keeps signed checkpoints, one per size', async () => {
      assert.equal(await t.store.latestAuditCheckpoint(), null);
      await t.store.addAuditCheckpoint({ size: 2, time: 10, note: 'two' });
      await t.store.addAuditCheckpoint({ size: 5, time: 20, note: 'five' });
      await t.store.addAuditCheckpoint({ size: 2, time: 30, note: 'again' });
      assert.deepEqual(await t.store.latestAuditCheckpoint(), { size: 5, time: 20, note: 'five' });
      assert.deepEqual((await t.store.listAuditCheckpoints({ limit: 10 })).map((c) => c.note), ['two', 'five']);
      assert.deepEqual((await t.store.listAuditCheckpoints({ afterSize: 2, limit: 10 })).map((c) => c.note), ['five']);
    });

    it('lists the tail, or what came after a sequence number', async () => {
      await t.store.appendAuditEvents([1, 2, 3, 4, 5].map(event));
      assert.deepEqual((await t.store.listAuditEvents({ limit: 2 })).map((e) => e.seq), [4, 5]);
      assert.deepEqual((await t.store.listAuditEvents({ afterSeq: 2, limit: 2 })).map((e) => e.seq), [3, 4]);
      assert.deepEqual(await t.store.listAuditEvents({ afterSeq: 5, limit: 10 }), []);
    });
  });
}
