// The store contract: mandates: grant, budget, delegation, ending.
import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import type { AuditEvent } from '../../audit/event.ts';
import type { Agent } from '../types.ts';
import type { ContractContext } from './context.ts';
import { mandate, NOW, person } from './fixtures.ts';

export function mandateContract(t: ContractContext): void {
  describe('mandates', () => {
    let bot: Agent;
    beforeEach(async () => {
      bot = await t.withAgent('bot');
      await t.store.createPerson(person('bob'));
    });

    it('creates, reads and filters mandates', async () => {
      const m1 = mandate('mnd_1', bot.id, 'alice', { scope: ['fs/*'], maxCalls: 5 });
      const m2 = mandate('mnd_2', bot.id, 'bob', { createdAt: NOW + 1 });
      await t.store.createMandate(m1);
      await t.store.createMandate(m2);
      assert.deepEqual(await t.store.getMandate('mnd_1'), m1);
      assert.equal(await t.store.getMandate('mnd_none'), null);
      assert.deepEqual((await t.store.listMandates()).map((m) => m.id), ['mnd_1', 'mnd_2']);
      assert.deepEqual((await t.store.listMandates({ grantor: 'bob' })).map((m) => m.id), ['mnd_2']);
      assert.deepEqual((await t.store.listMandates({ agentId: bot.id, state: 'active' })).length, 2);
      assert.deepEqual(await t.store.listMandates({ state: 'revoked' }), []);
    });

    it('ends an active mandate exactly once', async () => {
      await t.store.createMandate(mandate('mnd_1', bot.id, 'alice'));
      const ended = await t.store.endMandate('mnd_1', 'revoked', 'no longer needed', NOW + 30);
      assert.equal(ended?.state, 'revoked');
      assert.equal(ended?.reason, 'no longer needed');
      assert.equal(ended?.endedAt, NOW + 30);
      assert.equal(await t.store.endMandate('mnd_1', 'completed', null, NOW + 40), null);
      assert.equal((await t.store.getMandate('mnd_1'))?.state, 'revoked');
      assert.equal(await t.store.endMandate('mnd_none', 'revoked', null, NOW), null);
    });

    it('revokes every active mandate of an agent, and only those', async () => {
      const other = await t.withAgent('other');
      await t.store.createMandate(mandate('mnd_1', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_2', bot.id, 'bob'));
      await t.store.createMandate(mandate('mnd_3', bot.id, 'alice', { state: 'completed', endedAt: NOW }));
      await t.store.createMandate(mandate('mnd_4', other.id, 'alice'));
      assert.deepEqual((await t.store.listMandates({ agentId: other.id })).map((m) => m.id), ['mnd_4']);
      assert.deepEqual((await t.store.endMandatesOf({ agentId: bot.id }, 'revoked', 'agent compromised', NOW + 5)).sort(), ['mnd_1', 'mnd_2']);
      assert.deepEqual((await t.store.listMandates({ agentId: bot.id, state: 'revoked' })).map((m) => [m.id, m.reason, m.endedAt]), [
        ['mnd_1', 'agent compromised', NOW + 5], ['mnd_2', 'agent compromised', NOW + 5],
      ]);
      assert.deepEqual(await t.store.getMandate('mnd_3'), mandate('mnd_3', bot.id, 'alice', { state: 'completed', endedAt: NOW }));
      assert.deepEqual(await t.store.getMandate('mnd_4'), mandate('mnd_4', other.id, 'alice'));
      assert.deepEqual(await t.store.endMandatesOf({ agentId: bot.id }, 'revoked', 'again', NOW + 6), []);
      assert.equal((await t.store.getMandate('mnd_1'))?.reason, 'agent compromised');
    });

    it('revokes every active mandate a person granted, and only those', async () => {
      await t.store.createMandate(mandate('mnd_1', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_2', bot.id, 'bob'));
      assert.deepEqual(await t.store.endMandatesOf({ grantor: 'bob' }, 'revoked', null, NOW + 5), ['mnd_2']);
      assert.equal((await t.store.getMandate('mnd_1'))?.state, 'active');
      assert.deepEqual(await t.store.endMandatesOf({ grantor: 'bob' }, 'revoked', null, NOW + 6), []);
    });

    it('keeps a sub-delegation\'s place in its chain', async () => {
      const child = mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1, chain: ['spiffe://mandate.test/agent/planner'] });
      await t.store.createMandate(mandate('mnd_root', bot.id, 'alice'));
      await t.store.createMandate(child);
      assert.deepEqual(await t.store.getMandate('mnd_child'), child);
    });

    it('ends a mandate with everything delegated below it, in one step, naming who ended it', async () => {
      // root → a → a1 → a11, root → b; an unrelated mandate stays.
      const other = await t.withAgent('other');
      await t.store.createMandate(mandate('mnd_root', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_a', other.id, 'alice', { parentId: 'mnd_root', depth: 1, createdAt: NOW + 1 }));
      await t.store.createMandate(mandate('mnd_b', other.id, 'alice', { parentId: 'mnd_root', depth: 1, createdAt: NOW + 2 }));
      await t.store.createMandate(mandate('mnd_a1', bot.id, 'alice', { parentId: 'mnd_a', depth: 2, createdAt: NOW + 3 }));
      await t.store.createMandate(mandate('mnd_a11', other.id, 'alice', { parentId: 'mnd_a1', depth: 3, createdAt: NOW + 4, state: 'completed', endedAt: NOW + 4 }));
      await t.store.createMandate(mandate('mnd_a12', other.id, 'alice', { parentId: 'mnd_a1', depth: 3, createdAt: NOW + 5 }));
      await t.store.createMandate(mandate('mnd_other', bot.id, 'alice', { createdAt: NOW + 6 }));
      const ended = await t.store.endMandate('mnd_root', 'revoked', 'task cancelled', NOW + 10, 'person alice');
      assert.equal(ended?.endedBy, 'person alice');
      assert.deepEqual((await t.store.listMandates({ state: 'revoked' })).map((m) => [m.id, m.reason, m.endedAt, m.endedBy]).sort(), [
        ['mnd_a', 'task cancelled', NOW + 10, 'person alice'], ['mnd_a1', 'task cancelled', NOW + 10, 'person alice'], ['mnd_a12', 'task cancelled', NOW + 10, 'person alice'],
        ['mnd_b', 'task cancelled', NOW + 10, 'person alice'], ['mnd_root', 'task cancelled', NOW + 10, 'person alice'],
      ]);
      assert.equal((await t.store.getMandate('mnd_a11'))?.state, 'completed', 'what had ended keeps its end');
      assert.equal((await t.store.getMandate('mnd_other'))?.state, 'active');
      // Ending a middle link ends only what is below it.
      await t.store.createMandate(mandate('mnd_r2', bot.id, 'alice', { createdAt: NOW + 20 }));
      await t.store.createMandate(mandate('mnd_c', other.id, 'alice', { parentId: 'mnd_r2', depth: 1, createdAt: NOW + 21 }));
      await t.store.createMandate(mandate('mnd_c1', bot.id, 'alice', { parentId: 'mnd_c', depth: 2, createdAt: NOW + 22 }));
      assert.deepEqual(await t.store.endMandates({ id: 'mnd_c' }, 'completed', 'done', NOW + 30), ['mnd_c', 'mnd_c1']);
      assert.equal((await t.store.getMandate('mnd_r2'))?.state, 'active');
    });

    it('ends the mandates on a server, or all of them (the kill switch)', async () => {
      await t.store.createMandate(mandate('mnd_fs', bot.id, 'alice', { scope: ['fs/read_file'] }));
      await t.store.createMandate(mandate('mnd_fsx', bot.id, 'alice', { scope: ['fsx/read_file'], createdAt: NOW + 1 }));
      await t.store.createMandate(mandate('mnd_both', bot.id, 'alice', { scope: ['git/log', 'fs/*'], createdAt: NOW + 2 }));
      await t.store.createMandate(mandate('mnd_below', bot.id, 'alice', { scope: ['git/log'], parentId: 'mnd_both', depth: 1, createdAt: NOW + 3 }));
      assert.deepEqual(await t.store.endMandates({ server: 'fs' }, 'revoked', 'server compromised', NOW + 5, 'admin'), ['mnd_fs', 'mnd_both', 'mnd_below']);
      assert.equal((await t.store.getMandate('mnd_fsx'))?.state, 'active', 'a server whose name starts the same is another server');
      assert.deepEqual(await t.store.endMandates({ all: true }, 'revoked', 'kill switch', NOW + 6, 'admin'), ['mnd_fsx']);
      assert.deepEqual((await t.store.listMandates({ state: 'active' })), []);
    });

    it('counts calls against the budget, atomically with the checks', async () => {
      await t.store.createMandate(mandate('mnd_budget', bot.id, 'alice', { maxCalls: 2 }));
      assert.equal(await t.store.consumeCall('mnd_budget', NOW), 'ok');
      assert.equal(await t.store.consumeCall('mnd_budget', NOW), 'ok');
      assert.equal(await t.store.consumeCall('mnd_budget', NOW), 'exhausted');
      assert.equal((await t.store.getMandate('mnd_budget'))?.callsUsed, 2);
      await t.store.createMandate(mandate('mnd_free', bot.id, 'alice'));
      assert.equal(await t.store.consumeCall('mnd_free', NOW), 'ok');
      assert.equal(await t.store.consumeCall('mnd_free', NOW + 900), 'not_active', 'expired');
      await t.store.endMandate('mnd_free', 'revoked', null, NOW);
      assert.equal(await t.store.consumeCall('mnd_free', NOW), 'not_active');
      assert.equal(await t.store.consumeCall('mnd_none', NOW), 'not_active');
      assert.equal((await t.store.getMandate('mnd_free'))?.callsUsed, 1);
    });

    it('counts a delegated call against every mandate above it, all or none', async () => {
      const other = await t.withAgent('other');
      await t.store.createMandate(mandate('mnd_top', bot.id, 'alice', { maxCalls: 3 }));
      await t.store.createMandate(mandate('mnd_mid', other.id, 'alice', { parentId: 'mnd_top', depth: 1, maxCalls: 3, createdAt: NOW + 1 }));
      await t.store.createMandate(mandate('mnd_low', bot.id, 'alice', { parentId: 'mnd_mid', depth: 2, maxCalls: 2, createdAt: NOW + 2 }));
      await t.store.createMandate(mandate('mnd_twin', other.id, 'alice', { parentId: 'mnd_top', depth: 1, maxCalls: 3, createdAt: NOW + 3 }));
      const used = async () => Promise.all(['mnd_top', 'mnd_mid', 'mnd_low', 'mnd_twin'].map(async (id) => (await t.store.getMandate(id))?.callsUsed));
      assert.equal(await t.store.consumeCall('mnd_low', NOW), 'ok');
      assert.deepEqual(await used(), [1, 1, 1, 0]);
      assert.equal(await t.store.consumeCall('mnd_twin', NOW), 'ok');
      assert.equal(await t.store.consumeCall('mnd_low', NOW), 'ok');
      assert.deepEqual(await used(), [3, 2, 2, 1], 'the root has spent its three calls, through two children');
      assert.equal(await t.store.consumeCall('mnd_twin', NOW), 'parent_exhausted', 'a sibling cannot spend what the root no longer has');
      assert.equal(await t.store.consumeCall('mnd_low', NOW), 'exhausted');
      assert.deepEqual(await used(), [3, 2, 2, 1], 'a refused call counts nowhere');
      await t.store.createMandate(mandate('mnd_top2', bot.id, 'alice'));
      await t.store.createMandate(mandate('mnd_kid', other.id, 'alice', { parentId: 'mnd_top2', depth: 1, createdAt: NOW + 4 }));
      await t.store.endMandate('mnd_top2', 'completed', null, NOW);
      assert.equal(await t.store.consumeCall('mnd_kid', NOW), 'not_active', 'ended with its parent');
    });

    it('counts a call exactly when its audit event is recorded, in one transaction', async () => {
      await t.store.createMandate(mandate('mnd_counted', bot.id, 'alice', { maxCalls: 1 }));
      const entry = (n: number) => ({
        countCall: { mandateId: 'mnd_counted', now: NOW },
        event: (count: string): AuditEvent => ({
          kind: 'decision', time: NOW * 1000 + n, server: 'fs', person: 'alice', agents: [], mandate: 'mnd_counted', purpose: null, method: 'tools/call',
          tool: 'read_file', argumentsDigest: null, decision: count === 'ok' ? 'allow' : 'deny', reason: count === 'ok' ? null : count, policies: [],
          policySetHash: null, outcome: count === 'ok' ? null : 'denied', latencyMs: null,
        }),
      });
      const stored = await t.store.appendAuditEvents([entry(1), entry(2)]);
      assert.deepEqual(stored.map((e) => [e.decision, e.reason]), [['allow', null], ['deny', 'exhausted']]);
      assert.equal((await t.store.getMandate('mnd_counted'))?.callsUsed, 1);
      // An event that cannot be built rolls the whole batch back: no call counted, nothing recorded.
      await t.store.createMandate(mandate('mnd_rolled', bot.id, 'alice'));
      const before = (await t.store.listAuditEvents({ limit: 100 })).length;
      await assert.rejects(t.store.appendAuditEvents([
        { countCall: { mandateId: 'mnd_rolled', now: NOW }, event: () => entry(3).event('ok') },
        { countCall: { mandateId: 'mnd_rolled', now: NOW }, event: () => { throw new Error('cannot build'); } },
      ]));
      assert.equal((await t.store.getMandate('mnd_rolled'))?.callsUsed, 0);
      assert.equal((await t.store.listAuditEvents({ limit: 100 })).length, before);
    });

    it('expires only active mandates past their expiry', async () => {
      await t.store.createMandate(mandate('mnd_due', bot.id, 'alice', { expiresAt: NOW + 10 }));
      await t.store.createMandate(mandate('mnd_later', bot.id, 'alice', { expiresAt: NOW + 1000 }));
      await t.store.createMandate(mandate('mnd_done', bot.id, 'alice', { expiresAt: NOW + 10, state: 'completed', endedAt: NOW + 5 }));
      assert.deepEqual(await t.store.expireMandates(NOW + 10), ['mnd_due']);
      const expired = await t.store.getMandate('mnd_due');
      assert.equal(expired?.state, 'expired');
      assert.equal(expired?.endedAt, NOW + 10);
      assert.equal((await t.store.getMandate('mnd_later'))?.state, 'active');
      assert.equal((await t.store.getMandate('mnd_done'))?.state, 'completed');
      assert.deepEqual(await t.store.expireMandates(NOW + 11), []);
    });
  });
}
