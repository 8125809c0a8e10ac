// The Store test-suite, written against the interface: every backend (SQLite today,
// PostgreSQL next) runs exactly these tests through `storeContract`.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { entryLeafHash, ledgerEntry } from '../audit/entry.ts';
import type { AuditEvent } from '../audit/event.ts';
import { inclusionProof, merkleTreeHash, treeHashAt, verifyInclusion, type HashReader } from '../audit/merkle/index.ts';
import { MandateError } from '../errors.ts';
import { generateSigningKey } from '../identity/keyring.ts';
import { actionDigest, type ActionBinding, type Approval } from '../approvals/types.ts';
import type { TaskFlow } from '../delegation/task-flow.ts';
import type { Agent, ApprovalUse, IdentityProvider, Mandate, Person, SealedCredential, Store } from './types.ts';

export interface OpenedStore {
  store: Store;
  cleanup: () => Promise<void>;
}

const NOW = 1_800_000_000;

export const person = (id: string, overrides: Partial<Person> = {}): Person => ({
  id, email: `${id}@example.com`, name: id, status: 'active', issuer: null, subject: null, createdAt: NOW, ...overrides,
});

export const agent = (name: string, owner: string, overrides: Partial<Agent> = {}): Agent => ({
  id: `agt_${name}`, name, spiffeId: `spiffe://mandate.test/agent/${name}`, owner, sponsor: null, purpose: 'testing', environment: 'dev', status: 'active',
  reviewDue: null, keys: [], createdAt: NOW, enrolledAt: null, ...overrides,
});

export const mandate = (id: string, agentId: string, grantor: string, overrides: Partial<Mandate> = {}): Mandate => ({
  id, grantor, agentId, parentId: null, depth: 0, chain: [], purpose: 'a task', scope: ['fs/read_file'], notBefore: NOW, expiresAt: NOW + 900, maxCalls: null, callsUsed: 0,
  state: 'active', reason: null, createdAt: NOW, endedAt: null, endedBy: null, ...overrides,
});

/** A pending approval of a call under `mandateId`; `args` tells one action from another. */
export const approval = (id: string, mandateId: string, args = '{}', overrides: Partial<Approval> = {}): Approval => {
  const binding: ActionBinding = {
    server: 'fs', method: 'tools/call', target: 'write_file', argumentsDigest: `sha256:${args}`, mandateId, agent: 'spiffe://mandate.test/agent/bot',
  };
  return {
    id, digest: actionDigest(binding), binding, initiator: 'alice', approvers: [['owner', 'group:ops'], ['initiator']], policies: ['needs-approval'],
    preview: { path: '/reports/q3.txt' }, state: 'pending', createdAt: NOW, expiresAt: NOW + 900, decidedAt: null, decidedBy: null, note: null,
    usableUntil: null, repeatUntil: null, maxUses: 1, uses: 0, usedAt: null, ...overrides,
  };
};

const KEY = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' };

async function rejectsWith(promise: Promise<unknown>, code: string, status: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof MandateError, `expected a MandateError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    return true;
  });
}

export function storeContract(label: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${label}`, () => {
    let opened: OpenedStore;
    let store: Store;

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await store.close();
      await opened.cleanup();
    });

    const withAgent = async (name = 'bot', tokenHash = `hash-${name}`, expiresAt = NOW + 900): Promise<Agent> => {
      if (!(await store.getPerson('alice'))) await store.createPerson(person('alice'));
      const a = agent(name, 'alice');
      await store.createAgent(a, { tokenHash, agentId: a.id, expiresAt });
      return a;
    };

    describe('people', () => {
      it('creates, reads and lists people', async () => {
        await store.createPerson(person('bob'));
        await store.createPerson(person('alice', { email: null, name: null }));
        assert.deepEqual(await store.getPerson('bob'), person('bob'));
        assert.equal(await store.getPerson('nobody'), null);
        assert.deepEqual((await store.listPeople()).map((p) => p.id), ['alice', 'bob']);
        assert.equal((await store.getPerson('alice'))?.email, null);
      });

      it('refuses a duplicate id with a conflict', async () => {
        await store.createPerson(person('alice'));
        await rejectsWith(store.createPerson(person('alice', { email: 'other@example.com' })), 'person_exists', 409);
        assert.equal((await store.getPerson('alice'))?.email, 'alice@example.com');
      });

      it('changes a person\'s status', async () => {
        await store.createPerson(person('alice'));
        assert.equal((await store.setPersonStatus('alice', 'deactivated'))?.status, 'deactivated');
        assert.equal((await store.getPerson('alice'))?.status, 'deactivated');
        assert.equal(await store.setPersonStatus('nobody', 'deactivated'), null);
      });

      it('creates an external person once per issuer and subject', async () => {
        const carol = person('carol', { issuer: 'https://idp.example', subject: 'sub-1' });
        assert.deepEqual(await store.ensureExternalPerson(carol), carol);
        const again = await store.ensureExternalPerson({ ...carol, email: 'changed@example.com', createdAt: NOW + 5 });
        assert.deepEqual(again, carol);
        assert.deepEqual(await store.ensureExternalPerson({ ...carol, id: 'carol-2' }), carol, 'the issuer and subject decide, not the proposed id');
        assert.equal(await store.getPerson('carol-2'), null);
        assert.equal((await store.listPeople()).length, 1);
        const elsewhere = person('carol@other', { issuer: 'https://other-idp.example', subject: 'sub-1' });
        assert.deepEqual(await store.ensureExternalPerson(elsewhere), elsewhere, 'the same subject at another issuer is someone else');
        assert.deepEqual((await store.listPeople()).map((p) => p.id), ['carol', 'carol@other']);
      });

      it('does not reactivate a deactivated external person who signs in again', async () => {
        const carol = person('carol', { issuer: 'https://idp.example', subject: 'sub-1' });
        await store.ensureExternalPerson(carol);
        await store.setPersonStatus('carol', 'deactivated');
        assert.equal((await store.ensureExternalPerson(carol)).status, 'deactivated');
        assert.equal((await store.getPerson('carol'))?.status, 'deactivated');
      });

      it('refuses an external person whose id another identity holds', async () => {
        await store.createPerson(person('carol'));
        await rejectsWith(store.ensureExternalPerson(person('carol', { issuer: 'https://idp.example', subject: 'sub-1' })), 'person_exists', 409);
        assert.equal((await store.getPerson('carol'))?.issuer, null);
      });
    });

    describe('agents and enrollment', () => {
      it('creates agents and finds them by id, SPIFFE ID and owner', async () => {
        const a = await withAgent('bot');
        await store.createPerson(person('bob'));
        const b = agent('other', 'bob');
        await store.createAgent(b, { tokenHash: 'hash-other', agentId: b.id, expiresAt: NOW + 900 });
        assert.deepEqual(await store.getAgent(a.id), a);
        assert.deepEqual(await store.getAgentBySpiffeId(a.spiffeId), a);
        assert.equal(await store.getAgentBySpiffeId('spiffe://mandate.test/agent/none'), null);
        assert.deepEqual((await store.listAgents()).map((x) => x.name).sort(), ['bot', 'other']);
        assert.deepEqual((await store.listAgents({ owner: 'bob' })).map((x) => x.name), ['other']);
      });

      it('keeps an agent\'s sponsor', async () => {
        await store.createPerson(person('alice'));
        await store.createPerson(person('sam'));
        const a = agent('sponsored', 'alice', { sponsor: 'sam' });
        await store.createAgent(a, { tokenHash: 'hash-sponsored', agentId: a.id, expiresAt: NOW + 900 });
        assert.equal((await store.getAgent(a.id))?.sponsor, 'sam');
        assert.equal((await store.getAgentBySpiffeId(a.spiffeId))?.sponsor, 'sam');
      });

      it('refuses a duplicate agent name and keeps the first', async () => {
        const a = await withAgent('bot');
        const dup = { ...agent('bot', 'alice'), id: 'agt_second', spiffeId: 'spiffe://mandate.test/agent/bot2' };
        await rejectsWith(store.createAgent(dup, { tokenHash: 'hash-dup', agentId: dup.id, expiresAt: NOW + 900 }), 'agent_exists', 409);
        assert.equal(await store.getAgent('agt_second'), null);
        assert.deepEqual(await store.getAgent(a.id), a);
      });

      it('enrolls once: the key is registered and the token is spent', async () => {
        const a = await withAgent('bot', 'hash-1');
        const first = await store.enrollAgent('hash-1', KEY, NOW + 10);
        assert.equal(first.ok, true);
        assert.ok(first.ok && first.agent.keys.length === 1 && first.agent.enrolledAt === NOW + 10);
        assert.deepEqual((await store.getAgent(a.id))?.keys, [KEY]);
        assert.deepEqual(await store.enrollAgent('hash-1', { ...KEY, kid: 'k2' }, NOW + 20), { ok: false, reason: 'used' });
        assert.deepEqual((await store.getAgent(a.id))?.keys, [KEY]);
      });

      it('refuses unknown and expired enrollment tokens, and inactive agents', async () => {
        assert.deepEqual(await store.enrollAgent('nope', KEY, NOW), { ok: false, reason: 'unknown' });
        await withAgent('late', 'hash-late', NOW + 60);
        assert.deepEqual(await store.enrollAgent('hash-late', KEY, NOW + 60), { ok: false, reason: 'expired' });
        const s = await withAgent('sleepy', 'hash-sleepy');
        await store.setAgentStatus(s.id, 'suspended');
        assert.deepEqual(await store.enrollAgent('hash-sleepy', KEY, NOW), { ok: false, reason: 'agent_not_active' });
        assert.deepEqual((await store.getAgent(s.id))?.keys, []);
      });

      it('lets exactly one of two concurrent enrollments win', async () => {
        const a = await withAgent('bot', 'hash-race');
        const results = await Promise.all([store.enrollAgent('hash-race', KEY, NOW), store.enrollAgent('hash-race', { ...KEY, kid: 'k2' }, NOW)]);
        assert.equal(results.filter((r) => r.ok).length, 1);
        assert.deepEqual(results.filter((r) => !r.ok), [{ ok: false, reason: 'used' }]);
        const winner = results.find((r) => r.ok);
        assert.ok(winner?.ok);
        assert.deepEqual((await store.getAgent(a.id))?.keys, winner.agent.keys);
        assert.equal(winner.agent.keys.length, 1);
      });

      it('suspends and reactivates, but never brings back a retired agent', async () => {
        const a = await withAgent('bot');
        assert.equal((await store.setAgentStatus(a.id, 'suspended'))?.status, 'suspended');
        assert.equal((await store.setAgentStatus(a.id, 'active'))?.status, 'active');
        assert.equal((await store.setAgentStatus(a.id, 'retired'))?.status, 'retired');
        assert.equal((await store.setAgentStatus(a.id, 'active'))?.status, 'retired');
        assert.equal(await store.setAgentStatus('agt_none', 'active'), null);
      });
    });

    describe('servers and tools', () => {
      it('stores a server with its labelled tools', async () => {
        const server = { name: 'fs', upstream: { transport: 'stdio' as const, command: 'npx', args: ['-y', 'server-filesystem', '/tmp'] }, environment: 'prod' as const, createdAt: NOW };
        const tools = [
          { server: 'fs', name: 'read_file', sensitivity: 'internal' as const, effect: 'read' as const, egress: 'internal' as const, labelled: true, firstSeen: NOW },
          { server: 'fs', name: 'write_file', sensitivity: 'confidential' as const, effect: 'write' as const, egress: 'external' as const, labelled: false, firstSeen: NOW },
        ];
        await store.createServer(server, tools);
        await store.createServer({ name: 'web', upstream: { transport: 'http', url: 'https://mcp.example/mcp' }, environment: null, createdAt: NOW }, []);
        assert.deepEqual(await store.getServer('fs'), server);
        assert.equal((await store.getServer('web'))?.environment, null, 'a server for any environment');
        assert.deepEqual(await store.listTools('fs'), tools);
        assert.deepEqual((await store.listServers()).map((s) => s.name), ['fs', 'web']);
        assert.deepEqual(await store.listTools('web'), []);
        assert.equal(await store.getServer('none'), null);
      });

      it('discovers tools: present since registration at first, stamped when new afterwards', async () => {
        await store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://a.example' }, environment: null, createdAt: NOW }, [
          { server: 'fs', name: 'read_file', sensitivity: 'internal', effect: 'read', egress: 'internal', labelled: true, firstSeen: NOW },
        ]);
        const first = await store.discoverTools('fs', ['read_file', 'list_dir'], NOW + 100);
        assert.deepEqual(first.map((t) => [t.name, t.firstSeen, t.labelled, t.sensitivity]), [['list_dir', NOW, false, 'confidential'], ['read_file', NOW, true, 'internal']]);
        const later = await store.discoverTools('fs', ['read_file', 'list_dir', 'delete_all'], NOW + 200);
        assert.deepEqual(later.find((t) => t.name === 'delete_all')?.firstSeen, NOW + 200);
        assert.equal(later.find((t) => t.name === 'list_dir')?.firstSeen, NOW);
        assert.deepEqual(await store.discoverTools('none', ['x'], NOW), []);
      });

      it('refuses a duplicate server name and leaves its tools alone', async () => {
        await store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://a.example' }, environment: null, createdAt: NOW }, []);
        const again = store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://b.example' }, environment: null, createdAt: NOW }, [
          { server: 'fs', name: 'x', sensitivity: 'public', effect: 'read', egress: 'internal', labelled: true, firstSeen: NOW },
        ]);
        await rejectsWith(again, 'server_exists', 409);
        assert.deepEqual((await store.getServer('fs'))?.upstream, { transport: 'http', url: 'https://a.example' });
        assert.deepEqual(await store.listTools('fs'), []);
      });
    });

    describe('mandates', () => {
      let bot: Agent;
      beforeEach(async () => {
        bot = await withAgent('bot');
        await store.createPerson(person('bob'));
      });

      it('creates, reads and filters mandates', async () => {
        const m1 = mandate('mnd_1', bot.id, 'alice', { scope: ['fs/*'], maxCalls: 5 });
        const m2 = mandate('mnd_2', bot.id, 'bob', { createdAt: NOW + 1 });
        await store.createMandate(m1);
        await store.createMandate(m2);
        assert.deepEqual(await store.getMandate('mnd_1'), m1);
        assert.equal(await store.getMandate('mnd_none'), null);
        assert.deepEqual((await store.listMandates()).map((m) => m.id), ['mnd_1', 'mnd_2']);
        assert.deepEqual((await store.listMandates({ grantor: 'bob' })).map((m) => m.id), ['mnd_2']);
        assert.deepEqual((await store.listMandates({ agentId: bot.id, state: 'active' })).length, 2);
        assert.deepEqual(await store.listMandates({ state: 'revoked' }), []);
      });

      it('ends an active mandate exactly once', async () => {
        await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
        const ended = await store.endMandate('mnd_1', 'revoked', 'no longer needed', NOW + 30);
        assert.equal(ended?.state, 'revoked');
        assert.equal(ended?.reason, 'no longer needed');
        assert.equal(ended?.endedAt, NOW + 30);
        assert.equal(await store.endMandate('mnd_1', 'completed', null, NOW + 40), null);
        assert.equal((await store.getMandate('mnd_1'))?.state, 'revoked');
        assert.equal(await store.endMandate('mnd_none', 'revoked', null, NOW), null);
      });

      it('revokes every active mandate of an agent, and only those', async () => {
        const other = await withAgent('other');
        await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_2', bot.id, 'bob'));
        await store.createMandate(mandate('mnd_3', bot.id, 'alice', { state: 'completed', endedAt: NOW }));
        await store.createMandate(mandate('mnd_4', other.id, 'alice'));
        assert.deepEqual((await store.listMandates({ agentId: other.id })).map((m) => m.id), ['mnd_4']);
        assert.deepEqual((await store.endMandatesOf({ agentId: bot.id }, 'revoked', 'agent compromised', NOW + 5)).sort(), ['mnd_1', 'mnd_2']);
        assert.deepEqual((await store.listMandates({ agentId: bot.id, state: 'revoked' })).map((m) => [m.id, m.reason, m.endedAt]), [
          ['mnd_1', 'agent compromised', NOW + 5], ['mnd_2', 'agent compromised', NOW + 5],
        ]);
        assert.deepEqual(await store.getMandate('mnd_3'), mandate('mnd_3', bot.id, 'alice', { state: 'completed', endedAt: NOW }));
        assert.deepEqual(await store.getMandate('mnd_4'), mandate('mnd_4', other.id, 'alice'));
        assert.deepEqual(await store.endMandatesOf({ agentId: bot.id }, 'revoked', 'again', NOW + 6), []);
        assert.equal((await store.getMandate('mnd_1'))?.reason, 'agent compromised');
      });

      it('revokes every active mandate a person granted, and only those', async () => {
        await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_2', bot.id, 'bob'));
        assert.deepEqual(await store.endMandatesOf({ grantor: 'bob' }, 'revoked', null, NOW + 5), ['mnd_2']);
        assert.equal((await store.getMandate('mnd_1'))?.state, 'active');
        assert.deepEqual(await store.endMandatesOf({ grantor: 'bob' }, 'revoked', null, NOW + 6), []);
      });

      it('keeps a sub-delegation\'s place in its chain', async () => {
        const child = mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1, chain: ['spiffe://mandate.test/agent/planner'] });
        await store.createMandate(mandate('mnd_root', bot.id, 'alice'));
        await store.createMandate(child);
        assert.deepEqual(await store.getMandate('mnd_child'), child);
      });

      it('ends a mandate with everything delegated below it, in one step, naming who ended it', async () => {
        // root → a → a1 → a11, root → b; an unrelated mandate stays.
        const other = await withAgent('other');
        await store.createMandate(mandate('mnd_root', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_a', other.id, 'alice', { parentId: 'mnd_root', depth: 1, createdAt: NOW + 1 }));
        await store.createMandate(mandate('mnd_b', other.id, 'alice', { parentId: 'mnd_root', depth: 1, createdAt: NOW + 2 }));
        await store.createMandate(mandate('mnd_a1', bot.id, 'alice', { parentId: 'mnd_a', depth: 2, createdAt: NOW + 3 }));
        await store.createMandate(mandate('mnd_a11', other.id, 'alice', { parentId: 'mnd_a1', depth: 3, createdAt: NOW + 4, state: 'completed', endedAt: NOW + 4 }));
        await store.createMandate(mandate('mnd_a12', other.id, 'alice', { parentId: 'mnd_a1', depth: 3, createdAt: NOW + 5 }));
        await store.createMandate(mandate('mnd_other', bot.id, 'alice', { createdAt: NOW + 6 }));
        const ended = await store.endMandate('mnd_root', 'revoked', 'task cancelled', NOW + 10, 'person alice');
        assert.equal(ended?.endedBy, 'person alice');
        assert.deepEqual((await store.listMandates({ state: 'revoked' })).map((m) => [m.id, m.reason, m.endedAt, m.endedBy]).sort(), [
          ['mnd_a', 'task cancelled', NOW + 10, 'person alice'], ['mnd_a1', 'task cancelled', NOW + 10, 'person alice'], ['mnd_a12', 'task cancelled', NOW + 10, 'person alice'],
          ['mnd_b', 'task cancelled', NOW + 10, 'person alice'], ['mnd_root', 'task cancelled', NOW + 10, 'person alice'],
        ]);
        assert.equal((await store.getMandate('mnd_a11'))?.state, 'completed', 'what had ended keeps its end');
        assert.equal((await store.getMandate('mnd_other'))?.state, 'active');
        // Ending a middle link ends only what is below it.
        await store.createMandate(mandate('mnd_r2', bot.id, 'alice', { createdAt: NOW + 20 }));
        await store.createMandate(mandate('mnd_c', other.id, 'alice', { parentId: 'mnd_r2', depth: 1, createdAt: NOW + 21 }));
        await store.createMandate(mandate('mnd_c1', bot.id, 'alice', { parentId: 'mnd_c', depth: 2, createdAt: NOW + 22 }));
        assert.deepEqual(await store.endMandates({ id: 'mnd_c' }, 'completed', 'done', NOW + 30), ['mnd_c', 'mnd_c1']);
        assert.equal((await store.getMandate('mnd_r2'))?.state, 'active');
      });

      it('ends the mandates on a server, or all of them (the kill switch)', async () => {
        await store.createMandate(mandate('mnd_fs', bot.id, 'alice', { scope: ['fs/read_file'] }));
        await store.createMandate(mandate('mnd_fsx', bot.id, 'alice', { scope: ['fsx/read_file'], createdAt: NOW + 1 }));
        await store.createMandate(mandate('mnd_both', bot.id, 'alice', { scope: ['git/log', 'fs/*'], createdAt: NOW + 2 }));
        await store.createMandate(mandate('mnd_below', bot.id, 'alice', { scope: ['git/log'], parentId: 'mnd_both', depth: 1, createdAt: NOW + 3 }));
        assert.deepEqual(await store.endMandates({ server: 'fs' }, 'revoked', 'server compromised', NOW + 5, 'admin'), ['mnd_fs', 'mnd_both', 'mnd_below']);
        assert.equal((await store.getMandate('mnd_fsx'))?.state, 'active', 'a server whose name starts the same is another server');
        assert.deepEqual(await store.endMandates({ all: true }, 'revoked', 'kill switch', NOW + 6, 'admin'), ['mnd_fsx']);
        assert.deepEqual((await store.listMandates({ state: 'active' })), []);
      });

      it('counts calls against the budget, atomically with the checks', async () => {
        await store.createMandate(mandate('mnd_budget', bot.id, 'alice', { maxCalls: 2 }));
        assert.equal(await store.consumeCall('mnd_budget', NOW), 'ok');
        assert.equal(await store.consumeCall('mnd_budget', NOW), 'ok');
        assert.equal(await store.consumeCall('mnd_budget', NOW), 'exhausted');
        assert.equal((await store.getMandate('mnd_budget'))?.callsUsed, 2);
        await store.createMandate(mandate('mnd_free', bot.id, 'alice'));
        assert.equal(await store.consumeCall('mnd_free', NOW), 'ok');
        assert.equal(await store.consumeCall('mnd_free', NOW + 900), 'not_active', 'expired');
        await store.endMandate('mnd_free', 'revoked', null, NOW);
        assert.equal(await store.consumeCall('mnd_free', NOW), 'not_active');
        assert.equal(await store.consumeCall('mnd_none', NOW), 'not_active');
        assert.equal((await store.getMandate('mnd_free'))?.callsUsed, 1);
      });

      it('counts a delegated call against every mandate above it, all or none', async () => {
        const other = await withAgent('other');
        await store.createMandate(mandate('mnd_top', bot.id, 'alice', { maxCalls: 3 }));
        await store.createMandate(mandate('mnd_mid', other.id, 'alice', { parentId: 'mnd_top', depth: 1, maxCalls: 3, createdAt: NOW + 1 }));
        await store.createMandate(mandate('mnd_low', bot.id, 'alice', { parentId: 'mnd_mid', depth: 2, maxCalls: 2, createdAt: NOW + 2 }));
        await store.createMandate(mandate('mnd_twin', other.id, 'alice', { parentId: 'mnd_top', depth: 1, maxCalls: 3, createdAt: NOW + 3 }));
        const used = async () => Promise.all(['mnd_top', 'mnd_mid', 'mnd_low', 'mnd_twin'].map(async (id) => (await store.getMandate(id))?.callsUsed));
        assert.equal(await store.consumeCall('mnd_low', NOW), 'ok');
        assert.deepEqual(await used(), [1, 1, 1, 0]);
        assert.equal(await store.consumeCall('mnd_twin', NOW), 'ok');
        assert.equal(await store.consumeCall('mnd_low', NOW), 'ok');
        assert.deepEqual(await used(), [3, 2, 2, 1], 'the root has spent its three calls, through two children');
        assert.equal(await store.consumeCall('mnd_twin', NOW), 'parent_exhausted', 'a sibling cannot spend what the root no longer has');
        assert.equal(await store.consumeCall('mnd_low', NOW), 'exhausted');
        assert.deepEqual(await used(), [3, 2, 2, 1], 'a refused call counts nowhere');
        await store.createMandate(mandate('mnd_top2', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_kid', other.id, 'alice', { parentId: 'mnd_top2', depth: 1, createdAt: NOW + 4 }));
        await store.endMandate('mnd_top2', 'completed', null, NOW);
        assert.equal(await store.consumeCall('mnd_kid', NOW), 'not_active', 'ended with its parent');
      });

      it('counts a call exactly when its audit event is recorded, in one transaction', async () => {
        await store.createMandate(mandate('mnd_counted', bot.id, 'alice', { maxCalls: 1 }));
        const entry = (n: number) => ({
          countCall: { mandateId: 'mnd_counted', now: NOW },
          event: (count: string): AuditEvent => ({
            kind: 'decision', time: NOW * 1000 + n, server: 'fs', person: 'alice', agents: [], mandate: 'mnd_counted', purpose: null, method: 'tools/call',
            tool: 'read_file', argumentsDigest: null, decision: count === 'ok' ? 'allow' : 'deny', reason: count === 'ok' ? null : count, policies: [],
            policySetHash: null, outcome: count === 'ok' ? null : 'denied', latencyMs: null,
          }),
        });
        const stored = await store.appendAuditEvents([entry(1), entry(2)]);
        assert.deepEqual(stored.map((e) => [e.decision, e.reason]), [['allow', null], ['deny', 'exhausted']]);
        assert.equal((await store.getMandate('mnd_counted'))?.callsUsed, 1);
        // An event that cannot be built rolls the whole batch back: no call counted, nothing recorded.
        await store.createMandate(mandate('mnd_rolled', bot.id, 'alice'));
        const before = (await store.listAuditEvents({ limit: 100 })).length;
        await assert.rejects(store.appendAuditEvents([
          { countCall: { mandateId: 'mnd_rolled', now: NOW }, event: () => entry(3).event('ok') },
          { countCall: { mandateId: 'mnd_rolled', now: NOW }, event: () => { throw new Error('cannot build'); } },
        ]));
        assert.equal((await store.getMandate('mnd_rolled'))?.callsUsed, 0);
        assert.equal((await store.listAuditEvents({ limit: 100 })).length, before);
      });

      it('expires only active mandates past their expiry', async () => {
        await store.createMandate(mandate('mnd_due', bot.id, 'alice', { expiresAt: NOW + 10 }));
        await store.createMandate(mandate('mnd_later', bot.id, 'alice', { expiresAt: NOW + 1000 }));
        await store.createMandate(mandate('mnd_done', bot.id, 'alice', { expiresAt: NOW + 10, state: 'completed', endedAt: NOW + 5 }));
        assert.deepEqual(await store.expireMandates(NOW + 10), ['mnd_due']);
        const expired = await store.getMandate('mnd_due');
        assert.equal(expired?.state, 'expired');
        assert.equal(expired?.endedAt, NOW + 10);
        assert.equal((await store.getMandate('mnd_later'))?.state, 'active');
        assert.equal((await store.getMandate('mnd_done'))?.state, 'completed');
        assert.deepEqual(await store.expireMandates(NOW + 11), []);
      });
    });

    describe('signing keys', () => {
      it('rotates: next signs, current retires until its time, a new next is published', async () => {
        const current = generateSigningKey('current', NOW);
        const next = generateSigningKey('next', NOW);
        await store.addSigningKey(current);
        await store.addSigningKey(next);
        assert.deepEqual((await store.listSigningKeys()).map((k) => [k.kid, k.state]).sort(), [[current.kid, 'current'], [next.kid, 'next']].sort());
        assert.deepEqual((await store.listSigningKeys()).find((k) => k.kid === current.kid), current);

        const third = generateSigningKey('next', NOW + 100);
        await store.rotateSigningKeys(third, NOW + 200, NOW + 100);
        const states = new Map((await store.listSigningKeys()).map((k) => [k.kid, k]));
        assert.equal(states.get(current.kid)?.state, 'retiring');
        assert.equal(states.get(current.kid)?.retireAfter, NOW + 200);
        assert.equal(states.get(next.kid)?.state, 'current');
        assert.equal(states.get(third.kid)?.state, 'next');
        assert.equal(states.get(third.kid)?.retireAfter, null);
        assert.deepEqual(states.get(third.kid)?.privateJwk, third.privateJwk);

        await store.rotateSigningKeys(generateSigningKey('next', NOW + 300), NOW + 400, NOW + 300);
        const after = new Map((await store.listSigningKeys()).map((k) => [k.kid, k.state]));
        assert.equal(after.has(current.kid), false, 'a retiring key past its time is dropped');
        assert.equal(after.get(next.kid), 'retiring');
        assert.equal(after.get(third.kid), 'current');
        assert.equal([...after.values()].filter((s) => s === 'current').length, 1);

        await store.rotateSigningKeys(generateSigningKey('next', NOW + 350), NOW + 450, NOW + 350);
        const later = new Map((await store.listSigningKeys()).map((k) => [k.kid, k]));
        assert.equal(later.get(next.kid)?.state, 'retiring', 'a retiring key whose tokens may still be live is kept');
        assert.equal(later.get(next.kid)?.retireAfter, NOW + 400);
        assert.equal(later.get(third.kid)?.retireAfter, NOW + 450);
        assert.equal(later.size, 4);
      });
    });

    describe('identity providers', () => {
      const corp: IdentityProvider = { name: 'corp', issuer: 'https://idp.example', audience: 'mandate', jwksUri: 'https://idp.example/jwks', subjectClaim: 'email', createdAt: NOW };

      it('adds, lists and removes providers', async () => {
        await store.addIdentityProvider(corp);
        assert.deepEqual(await store.listIdentityProviders(), [corp]);
        assert.equal(await store.removeIdentityProvider('corp'), true);
        assert.equal(await store.removeIdentityProvider('corp'), false);
        assert.deepEqual(await store.listIdentityProviders(), []);
      });

      it('refuses a duplicate name or issuer', async () => {
        await store.addIdentityProvider(corp);
        await rejectsWith(store.addIdentityProvider({ ...corp, issuer: 'https://other.example' }), 'identity_provider_exists', 409);
        await rejectsWith(store.addIdentityProvider({ ...corp, name: 'corp2' }), 'identity_provider_exists', 409);
        assert.equal((await store.listIdentityProviders()).length, 1);
      });
    });

    describe('audit events', () => {
      const event = (i: number): AuditEvent => ({
        kind: 'decision', time: NOW * 1000 + i, server: 'fs', person: 'alice', agents: ['spiffe://mandate.test/agent/bot'], mandate: 'mnd_1', purpose: 'a task',
        method: 'tools/call', tool: 'read_file', argumentsDigest: `sha256:${i}`, decision: i % 2 === 0 ? 'allow' : 'deny', reason: null, policies: ['p'],
        policySetHash: 'sha256:x', outcome: null, latencyMs: null,
      });

      const hx = (hash: Uint8Array): string => Buffer.from(hash).toString('hex');
      const hashes: HashReader = { readHashes: (positions) => store.readAuditHashes(positions) };
      const leaves = async (): Promise<Uint8Array[]> => (await store.readAuditEntries(0, (await store.auditTreeHead()).size)).map((e) => entryLeafHash(e));

      it('makes each event a leaf of the Merkle tree, its hash the leaf hash of its entry, across batches', async () => {
        const first = await store.appendAuditEvents([event(1), event(2)]);
        const second = await store.appendAuditEvents([event(3)]);
        assert.deepEqual([...first, ...second].map((e) => e.seq), [1, 2, 3]);
        const entries = await store.readAuditEntries(0, 3);
        assert.deepEqual(entries, [1, 2, 3].map((i) => ledgerEntry(i, event(i))), 'the entry is the event as JSON, its seq first');
        assert.deepEqual([...first, ...second].map((e) => e.hash), entries.map((e) => entryLeafHash(e).toString('hex')));
        const head = await store.auditTreeHead();
        assert.equal(head.size, 3);
        assert.equal(hx(head.rootHash), hx(merkleTreeHash(await leaves())));
        assert.deepEqual((await store.listAuditEvents({ limit: 10 })).map((e) => e.argumentsDigest), ['sha256:1', 'sha256:2', 'sha256:3']);
        assert.equal((await store.getAuditEvent(2))?.argumentsDigest, 'sha256:2');
        assert.equal(await store.getAuditEvent(4), null);
      });

      it('stores the tile hashes above the leaves, so roots and proofs come from the store', async () => {
        for (let batch = 0; batch < 6; batch++) await store.appendAuditEvents(Array.from({ length: 50 }, (_, i) => event(batch * 50 + i)));
        const head = await store.auditTreeHead();
        assert.equal(head.size, 300);
        const all = await leaves();
        assert.equal(hx(head.rootHash), hx(merkleTreeHash(all)));
        assert.equal(hx(await treeHashAt(hashes, 300)), hx(head.rootHash), 'the root recomputed from the stored hashes');
        assert.equal(hx(await treeHashAt(hashes, 257)), hx(merkleTreeHash(all.slice(0, 257))));
        const [level1] = await store.readAuditHashes([{ level: 1, index: 0 }]);
        assert.equal(hx(level1 as Uint8Array), hx(merkleTreeHash(all.slice(0, 256))), 'the first 256 entries complete one level-1 hash');
        await assert.rejects(store.readAuditHashes([{ level: 1, index: 1 }]), (error: unknown) => (error as { code?: string }).code === 'hash_missing');
        await assert.rejects(store.readAuditHashes([{ level: 0, index: 300 }]), (error: unknown) => (error as { code?: string }).code === 'hash_missing');
        const proof = await inclusionProof(hashes, 123, 300);
        verifyInclusion({ leafIndex: 123, treeSize: 300, leafHash: all[123] as Uint8Array, proof, rootHash: head.rootHash });
      });

      it('rolls the tree back with a failed append', async () => {
        await store.appendAuditEvents([event(1)]);
        await assert.rejects(store.appendAuditEvents([event(2), { countCall: { mandateId: 'mnd_none', now: NOW }, event: () => { throw new Error('cannot build'); } }]));
        await store.appendAuditEvents([event(3)]);
        const head = await store.auditTreeHead();
        assert.equal(head.size, 2);
        assert.equal(hx(head.rootHash), hx(merkleTreeHash(await leaves())));
        assert.deepEqual((await store.listAuditEvents({ limit: 10 })).map((e) => [e.seq, e.argumentsDigest]), [[1, 'sha256:1'], [2, 'sha256:3']]);
      });

      it('keeps signed checkpoints, one per size', async () => {
        assert.equal(await store.latestAuditCheckpoint(), null);
        await store.addAuditCheckpoint({ size: 2, time: 10, note: 'two' });
        await store.addAuditCheckpoint({ size: 5, time: 20, note: 'five' });
        await store.addAuditCheckpoint({ size: 2, time: 30, note: 'again' });
        assert.deepEqual(await store.latestAuditCheckpoint(), { size: 5, time: 20, note: 'five' });
        assert.deepEqual((await store.listAuditCheckpoints({ limit: 10 })).map((c) => c.note), ['two', 'five']);
        assert.deepEqual((await store.listAuditCheckpoints({ afterSize: 2, limit: 10 })).map((c) => c.note), ['five']);
      });

      it('lists the tail, or what came after a sequence number', async () => {
        await store.appendAuditEvents([1, 2, 3, 4, 5].map(event));
        assert.deepEqual((await store.listAuditEvents({ limit: 2 })).map((e) => e.seq), [4, 5]);
        assert.deepEqual((await store.listAuditEvents({ afterSeq: 2, limit: 2 })).map((e) => e.seq), [3, 4]);
        assert.deepEqual(await store.listAuditEvents({ afterSeq: 5, limit: 10 }), []);
      });
    });

    describe('credentials', () => {
      const sealed = (id: string, overrides: Partial<SealedCredential> = {}): SealedCredential => ({
        id, name: `cred-${id}`, server: 'api', injection: { kind: 'header', header: 'authorization', format: 'Bearer {secret}' },
        sealed: new Uint8Array([1, 2, 3, id.length]), wrappedKey: new Uint8Array([9, 8, 7]), kekId: 'kek_a', createdAt: NOW, rotatedAt: null, rewrappedAt: null, ...overrides,
      });
      beforeEach(async () => {
        await store.createServer({ name: 'api', upstream: { transport: 'http', url: 'https://api.example/mcp' }, environment: null, createdAt: NOW }, []);
        await store.createServer({ name: 'fs', upstream: { transport: 'stdio', command: 'fs', args: [] }, environment: null, createdAt: NOW }, []);
      });

      it('stores sealed credentials as given and lists them by server and name', async () => {
        const a = sealed('crd_a');
        const b = sealed('crd_b', { name: 'a-first', server: 'fs', injection: { kind: 'env', variable: 'TOKEN' } });
        await store.createCredential(a);
        await store.createCredential(b);
        assert.deepEqual(await store.getCredential('crd_a'), a);
        assert.deepEqual(await store.getCredential('crd_b'), b);
        assert.equal(await store.getCredential('crd_none'), null);
        assert.deepEqual((await store.listCredentials()).map((c) => c.id), ['crd_a', 'crd_b']);
        assert.deepEqual((await store.listCredentials({ server: 'fs' })).map((c) => c.id), ['crd_b']);
        assert.deepEqual(await store.listCredentials({ server: 'none' }), []);
      });

      it('refuses a taken name, a server\'s header or variable already injected, and an unknown server', async () => {
        await store.createCredential(sealed('crd_a'));
        await rejectsWith(store.createCredential(sealed('crd_b', { name: 'cred-crd_a', injection: { kind: 'header', header: 'x-key', format: '{secret}' } })), 'credential_exists', 409);
        await rejectsWith(store.createCredential(sealed('crd_c')), 'credential_target_taken', 409);
        await store.createCredential(sealed('crd_d', { injection: { kind: 'header', header: 'x-key', format: '{secret}' } }));
        await rejectsWith(store.createCredential(sealed('crd_e', { server: 'nowhere' })), 'server_not_found', 400);
        assert.deepEqual((await store.listCredentials()).map((c) => c.id), ['crd_a', 'crd_d']);
      });

      it('replaces a secret, and removes a credential', async () => {
        await store.createCredential(sealed('crd_a'));
        const replaced = await store.replaceCredentialSecret('crd_a', { sealed: new Uint8Array([4, 4]), wrappedKey: new Uint8Array([5]), kekId: 'kek_b' }, NOW + 10);
        assert.deepEqual([replaced?.sealed, replaced?.wrappedKey, replaced?.kekId, replaced?.rotatedAt], [new Uint8Array([4, 4]), new Uint8Array([5]), 'kek_b', NOW + 10]);
        assert.deepEqual((await store.listCredentials({ server: 'api' }))[0]?.kekId, 'kek_b');
        assert.equal(await store.replaceCredentialSecret('crd_none', { sealed: new Uint8Array(1), wrappedKey: new Uint8Array(1), kekId: 'k' }, NOW), null);
        assert.equal(await store.removeCredential('crd_a'), true);
        assert.equal(await store.removeCredential('crd_a'), false);
        assert.deepEqual(await store.listCredentials({ server: 'api' }), []);
      });

      it('rewraps data keys all together, or not at all when one moved meanwhile', async () => {
        await store.createCredential(sealed('crd_a'));
        await store.createCredential(sealed('crd_b', { injection: { kind: 'header', header: 'x-key', format: '{secret}' } }));
        await store.rewrapCredentialKeys([
          { id: 'crd_a', fromKekId: 'kek_a', wrappedKey: new Uint8Array([1]), kekId: 'kek_new' },
          { id: 'crd_b', fromKekId: 'kek_a', wrappedKey: new Uint8Array([2]), kekId: 'kek_new' },
        ], NOW + 5);
        const after = await store.listCredentials();
        assert.deepEqual(after.map((c) => [c.kekId, c.wrappedKey, c.rewrappedAt, c.sealed]), [
          ['kek_new', new Uint8Array([1]), NOW + 5, sealed('crd_a').sealed], ['kek_new', new Uint8Array([2]), NOW + 5, sealed('crd_b').sealed],
        ]);
        await rejectsWith(store.rewrapCredentialKeys([
          { id: 'crd_a', fromKekId: 'kek_new', wrappedKey: new Uint8Array([3]), kekId: 'kek_z' },
          { id: 'crd_b', fromKekId: 'kek_a', wrappedKey: new Uint8Array([4]), kekId: 'kek_z' },
        ], NOW + 6), 'credential_changed', 409);
        assert.deepEqual((await store.listCredentials()).map((c) => c.kekId), ['kek_new', 'kek_new'], 'nothing changed');
      });
    });

    describe('groups', () => {
      beforeEach(async () => {
        for (const id of ['alice', 'bob', 'carol']) await store.createPerson(person(id));
      });

      it('creates groups with members, lists them and the groups of a person', async () => {
        await store.createGroup({ name: 'ops', members: ['carol', 'alice', 'alice'], createdAt: NOW });
        await store.createGroup({ name: 'finance', members: [], createdAt: NOW + 1 });
        assert.deepEqual(await store.getGroup('ops'), { name: 'ops', members: ['alice', 'carol'], createdAt: NOW });
        assert.equal(await store.getGroup('none'), null);
        assert.deepEqual(await store.listGroups(), [{ name: 'finance', members: [], createdAt: NOW + 1 }, { name: 'ops', members: ['alice', 'carol'], createdAt: NOW }]);
        assert.deepEqual(await store.groupsOf('alice'), ['ops']);
        assert.deepEqual(await store.groupsOf('bob'), []);
      });

      it('refuses a taken name or an unknown member, leaving nothing behind', async () => {
        await store.createGroup({ name: 'ops', members: ['alice'], createdAt: NOW });
        await rejectsWith(store.createGroup({ name: 'ops', members: [], createdAt: NOW }), 'group_exists', 409);
        await rejectsWith(store.createGroup({ name: 'new', members: ['bob', 'nobody'], createdAt: NOW }), 'person_not_found', 400);
        assert.equal(await store.getGroup('new'), null);
        assert.deepEqual(await store.groupsOf('bob'), []);
      });

      it('adds and removes members', async () => {
        await store.createGroup({ name: 'ops', members: ['alice'], createdAt: NOW });
        assert.equal(await store.addGroupMember('ops', 'bob', NOW), true);
        assert.equal(await store.addGroupMember('ops', 'bob', NOW), false, 'already a member');
        await rejectsWith(store.addGroupMember('ops', 'nobody', NOW), 'person_not_found', 404);
        await rejectsWith(store.addGroupMember('none', 'bob', NOW), 'group_not_found', 404);
        assert.deepEqual((await store.getGroup('ops'))?.members, ['alice', 'bob']);
        assert.equal(await store.removeGroupMember('ops', 'alice'), true);
        assert.equal(await store.removeGroupMember('ops', 'alice'), false);
        assert.deepEqual((await store.getGroup('ops'))?.members, ['bob']);
        assert.deepEqual(await store.groupsOf('alice'), []);
      });
    });

    describe('approvals', () => {
      beforeEach(async () => {
        const bot = await withAgent('bot');
        await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_2', bot.id, 'alice'));
      });
      const once = (now = NOW): ApprovalUse => ({ usableUntil: now + 300, repeatUntil: null, maxUses: 1 });
      const approved = async (id: string, args = '{}', use: ApprovalUse = once()): Promise<Approval> => {
        const a = approval(id, 'mnd_1', args);
        await store.createApproval(a);
        const decided = await store.decideApproval(id, 'approved', 'person bob', 'looks right', NOW, use);
        assert.ok(decided.ok);
        return decided.approval;
      };

      it('creates, reads, finds the pending one of a digest and lists newest first', async () => {
        const a = approval('apr_a', 'mnd_1');
        const b = approval('apr_b', 'mnd_2', '{"x":1}', { createdAt: NOW + 1 });
        await store.createApproval(a);
        await store.createApproval(b);
        assert.deepEqual(await store.getApproval('apr_a'), a);
        assert.equal(await store.getApproval('apr_none'), null);
        assert.deepEqual(await store.findPendingApproval(a.digest, NOW), a);
        assert.equal(await store.findPendingApproval(a.digest, NOW + 900), null, 'past its expiry');
        assert.equal(await store.findPendingApproval('sha256:none', NOW), null);
        assert.deepEqual((await store.listApprovals()).map((x) => x.id), ['apr_b', 'apr_a']);
        assert.deepEqual((await store.listApprovals({ mandateId: 'mnd_1' })).map((x) => x.id), ['apr_a']);
        assert.deepEqual((await store.listApprovals({ state: 'approved' })), []);
        assert.deepEqual((await store.listApprovals({ limit: 1 })).map((x) => x.id), ['apr_b']);
      });

      it('keeps one pending approval per digest, and refuses an unknown mandate', async () => {
        await store.createApproval(approval('apr_a', 'mnd_1'));
        await rejectsWith(store.createApproval(approval('apr_b', 'mnd_1')), 'approval_exists', 409);
        await rejectsWith(store.createApproval(approval('apr_c', 'mnd_none')), 'mandate_not_found', 400);
        await store.createApproval(approval('apr_d', 'mnd_1', '{"other":true}'));
        assert.deepEqual((await store.listApprovals()).map((x) => x.id).sort(), ['apr_a', 'apr_d']);
      });

      it('approves only while pending, once', async () => {
        await store.createApproval(approval('apr_a', 'mnd_1'));
        const decided = await store.decideApproval('apr_a', 'approved', 'person bob', 'looks right', NOW + 10, { usableUntil: NOW + 310, repeatUntil: NOW + 3610, maxUses: 20 });
        assert.ok(decided.ok);
        assert.deepEqual(
          [decided.approval.state, decided.approval.decidedAt, decided.approval.decidedBy, decided.approval.note, decided.approval.usableUntil, decided.approval.repeatUntil, decided.approval.maxUses],
          ['approved', NOW + 10, 'person bob', 'looks right', NOW + 310, NOW + 3610, 20],
        );
        const again = await store.decideApproval('apr_a', 'denied', 'person carol', null, NOW + 11, once());
        assert.deepEqual([again.ok, !again.ok && again.reason, again.approval?.state, again.approval?.decidedBy], [false, 'not_pending', 'approved', 'person bob']);
        const none = await store.decideApproval('apr_none', 'approved', 'person bob', null, NOW, once());
        assert.deepEqual([none.ok, !none.ok && none.reason, none.approval], [false, 'not_found', null]);
        assert.equal(await store.findPendingApproval(decided.approval.digest, NOW), null);
      });

      it('uses an approval once: a second use, and any use after it was used, is refused', async () => {
        const a = await approved('apr_a');
        const used = await store.consumeApproval(a.digest, NOW + 1);
        assert.deepEqual([used?.id, used?.state, used?.uses, used?.usedAt], ['apr_a', 'used', 1, NOW + 1]);
        assert.equal(await store.consumeApproval(a.digest, NOW + 2), null);
        assert.equal((await store.getApproval('apr_a'))?.uses, 1);
        assert.equal(await store.consumeApproval(approval('x', 'mnd_1', '{"other":true}').digest, NOW + 1), null, 'another action has no approval');
      });

      it('lets exactly one of two racing consumers have a single-use approval', async () => {
        const a = await approved('apr_a');
        const outcomes = await Promise.all([store.consumeApproval(a.digest, NOW + 1), store.consumeApproval(a.digest, NOW + 1)]);
        assert.deepEqual(outcomes.map((o) => o?.id ?? null).sort(), ['apr_a', null].sort());
        assert.equal((await store.getApproval('apr_a'))?.uses, 1);
      });

      it('refuses a use after the window', async () => {
        const a = await approved('apr_a');
        assert.equal(await store.consumeApproval(a.digest, NOW + 300), null);
        assert.deepEqual(await store.expireApprovals(NOW + 300).then((list) => list.map((x) => [x.id, x.state])), [['apr_a', 'expired']]);
        assert.equal(await store.consumeApproval(a.digest, NOW + 1), null, 'an expired approval stays expired');
      });

      it('repeats identical calls until repeatUntil, at most maxUses times', async () => {
        const a = await approved('apr_a', '{}', { usableUntil: NOW + 300, repeatUntil: NOW + 600, maxUses: 3 });
        assert.equal((await store.findUsableApproval(a.digest, NOW + 1))?.uses, 0, 'found without being used');
        assert.equal((await store.consumeApproval(a.digest, NOW + 1))?.state, 'approved');
        assert.equal((await store.consumeApproval(a.digest, NOW + 500))?.uses, 2, 'past the window, within the repeat period');
        const last = await store.consumeApproval(a.digest, NOW + 501);
        assert.deepEqual([last?.uses, last?.state], [3, 'used']);
        assert.equal(await store.consumeApproval(a.digest, NOW + 502), null, 'its uses are spent');
        assert.equal(await store.findUsableApproval(a.digest, NOW + 502), null, 'nor found usable');
        const b = await approved('apr_b', '{"b":1}', { usableUntil: NOW + 300, repeatUntil: NOW + 600, maxUses: 5 });
        assert.equal((await store.consumeApproval(b.digest, NOW + 10))?.uses, 1);
        assert.equal((await store.findUsableApproval(b.digest, NOW + 599))?.id, 'apr_b');
        assert.equal(await store.findUsableApproval(b.digest, NOW + 600), null, 'past the repeat period');
        assert.equal(await store.consumeApproval(b.digest, NOW + 600), null, 'past the repeat period');
        assert.deepEqual((await store.expireApprovals(NOW + 600)).map((x) => [x.id, x.state, x.uses]), [['apr_b', 'used', 1]]);
      });

      it('keeps a denial final: never used, never decided again', async () => {
        const a = approval('apr_a', 'mnd_1');
        await store.createApproval(a);
        const denied = await store.decideApproval('apr_a', 'denied', 'admin', 'not today', NOW + 5, once());
        assert.deepEqual([denied.ok, denied.approval?.state, denied.approval?.usableUntil, denied.approval?.note], [true, 'denied', null, 'not today']);
        assert.equal(await store.consumeApproval(a.digest, NOW + 6), null);
        const again = await store.decideApproval('apr_a', 'approved', 'person bob', null, NOW + 7, once());
        assert.deepEqual([again.ok, !again.ok && again.reason, again.approval?.state], [false, 'not_pending', 'denied']);
        assert.deepEqual(await store.expireApprovals(NOW + 10_000), []);
        assert.equal((await store.getApproval('apr_a'))?.state, 'denied');
      });

      it('keeps an expiry final: a pending approval past its expiry cannot be decided', async () => {
        const a = approval('apr_a', 'mnd_1');
        await store.createApproval(a);
        const late = await store.decideApproval('apr_a', 'approved', 'person bob', null, NOW + 900, once(NOW + 900));
        assert.deepEqual([late.ok, !late.ok && late.reason, late.approval?.state], [false, 'expired', 'expired']);
        assert.equal(await store.consumeApproval(a.digest, NOW + 901), null);
        const again = await store.decideApproval('apr_a', 'approved', 'person bob', null, NOW + 1, once());
        assert.deepEqual([again.ok, !again.ok && again.reason], [false, 'not_pending']);
        // The same action may be asked for anew: the expired one no longer stands in the way.
        await store.createApproval(approval('apr_b', 'mnd_1'));
        assert.equal((await store.findPendingApproval(a.digest, NOW + 901))?.id, undefined, 'apr_b is past its expiry too at that time');
        assert.equal((await store.findPendingApproval(a.digest, NOW))?.id, 'apr_b');
      });

      it('expires pending approvals past their expiry, and only those', async () => {
        await store.createApproval(approval('apr_due', 'mnd_1', '{"a":1}', { expiresAt: NOW + 10 }));
        await store.createApproval(approval('apr_later', 'mnd_1', '{"a":2}', { expiresAt: NOW + 1000 }));
        assert.deepEqual((await store.expireApprovals(NOW + 10)).map((x) => [x.id, x.state]), [['apr_due', 'expired']]);
        assert.equal((await store.getApproval('apr_later'))?.state, 'pending');
        assert.deepEqual(await store.expireApprovals(NOW + 11), []);
        const decided = await store.decideApproval('apr_due', 'approved', 'person bob', null, NOW, once());
        assert.deepEqual([decided.ok, !decided.ok && decided.reason], [false, 'not_pending'], 'expired is final');
      });
    });

    describe('admin credentials and revoked tokens', () => {
      it('recognises registered admin credential hashes only', async () => {
        assert.equal(await store.isAdminCredential('h1'), false);
        await store.addAdminCredential('h1', NOW);
        await store.addAdminCredential('h1', NOW);
        assert.equal(await store.isAdminCredential('h1'), true);
        assert.equal(await store.isAdminCredential('h2'), false);
      });

      it('keeps a revoked token id until the token would have expired', async () => {
        await store.revokeTokenId('jti-1', NOW + 300);
        assert.equal(await store.isTokenIdRevoked('jti-1', NOW), true);
        assert.equal(await store.isTokenIdRevoked('jti-1', NOW + 300), true);
        assert.equal(await store.isTokenIdRevoked('jti-1', NOW + 301), false);
        assert.equal(await store.isTokenIdRevoked('jti-2', NOW), false);
      });
    });

    describe('task flows', () => {
      const flow = (over: Partial<TaskFlow> = {}): TaskFlow => ({ maxSensitivity: 'public', untrusted: false, tools: [], destinations: [], ...over });

      it('keeps what has flowed, and only lets it grow', async () => {
        const bot = await withAgent();
        await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
        assert.equal(await store.getTaskFlow('mnd_1'), null, 'nothing recorded yet');
        const first = await store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'confidential', tools: ['fs/read_file'] }), NOW);
        assert.deepEqual(first, flow({ maxSensitivity: 'confidential', tools: ['fs/read_file'] }));
        // Lower sensitivity, untrusted content, a destination: the level stays, the rest is added.
        const second = await store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'internal', untrusted: true, tools: ['web/post'], destinations: ['web/post'] }), NOW + 1);
        assert.deepEqual(second, { maxSensitivity: 'confidential', untrusted: true, tools: ['fs/read_file', 'web/post'], destinations: ['web/post'] });
        // A merge that forgets everything still loses nothing.
        assert.deepEqual(await store.mergeTaskFlow('mnd_1', flow(), NOW + 2), second);
        assert.deepEqual(await store.getTaskFlow('mnd_1'), second);
        assert.deepEqual(await store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'secret' }), NOW + 3), { ...second, maxSensitivity: 'secret' });
      });

      it('merges flows observed at once without losing either', async () => {
        const bot = await withAgent();
        await store.createMandate(mandate('mnd_1', bot.id, 'alice'));
        await Promise.all([
          store.mergeTaskFlow('mnd_1', flow({ maxSensitivity: 'secret', tools: ['vault/read'] }), NOW),
          store.mergeTaskFlow('mnd_1', flow({ untrusted: true, tools: ['web/fetch'], destinations: ['web/fetch'] }), NOW),
        ]);
        assert.deepEqual(await store.getTaskFlow('mnd_1'), { maxSensitivity: 'secret', untrusted: true, tools: ['vault/read', 'web/fetch'], destinations: ['web/fetch'] });
      });

      it('is one flow for a whole delegation tree, kept under its root; none for an unknown mandate', async () => {
        const bot = await withAgent();
        await store.createMandate(mandate('mnd_root', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1 }));
        await store.createMandate(mandate('mnd_grandchild', bot.id, 'alice', { parentId: 'mnd_child', depth: 2 }));
        await store.createMandate(mandate('mnd_other', bot.id, 'alice'));
        await store.mergeTaskFlow('mnd_grandchild', flow({ maxSensitivity: 'confidential', tools: ['crm/export'] }), NOW);
        await store.mergeTaskFlow('mnd_root', flow({ destinations: ['mail/send'], tools: ['mail/send'] }), NOW);
        const shared = { maxSensitivity: 'confidential', untrusted: false, tools: ['crm/export', 'mail/send'], destinations: ['mail/send'] };
        for (const id of ['mnd_root', 'mnd_child', 'mnd_grandchild']) assert.deepEqual(await store.getTaskFlow(id), shared, id);
        assert.equal(await store.getTaskFlow('mnd_other'), null);
        assert.equal(await store.getTaskFlow('mnd_none'), null);
        await rejectsWith(store.mergeTaskFlow('mnd_none', flow({ untrusted: true }), NOW), 'mandate_not_found', 400);
      });

      it('forgets the flows of ended tasks by their roots, and only those', async () => {
        const bot = await withAgent();
        await store.createMandate(mandate('mnd_root', bot.id, 'alice'));
        await store.createMandate(mandate('mnd_child', bot.id, 'alice', { parentId: 'mnd_root', depth: 1 }));
        await store.createMandate(mandate('mnd_other', bot.id, 'alice'));
        await store.mergeTaskFlow('mnd_child', flow({ maxSensitivity: 'secret', tools: ['vault/read'] }), NOW);
        await store.mergeTaskFlow('mnd_other', flow({ untrusted: true }), NOW);
        assert.equal(await store.forgetTaskFlows(['mnd_child']), 0, 'a child has no flow of its own');
        assert.equal((await store.getTaskFlow('mnd_child'))?.maxSensitivity, 'secret');
        assert.equal(await store.forgetTaskFlows(['mnd_root', 'mnd_child', 'mnd_none']), 1);
        assert.equal(await store.getTaskFlow('mnd_root'), null);
        assert.equal(await store.getTaskFlow('mnd_child'), null, 'remembered reads are forgotten too');
        assert.equal((await store.getTaskFlow('mnd_other'))?.untrusted, true);
        assert.equal(await store.forgetTaskFlows([]), 0);
      });
    });

    it('answers ping', async () => {
      await store.ping();
    });
  });
}
