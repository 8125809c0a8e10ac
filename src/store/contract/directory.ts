// The store contract: people, agents and their enrollment, servers and their tools.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContractContext } from './context.ts';
import { agent, KEY, NOW, person, rejectsWith } from './fixtures.ts';

export function directoryContract(t: ContractContext): void {
  describe('people', () => {
    it('creates, reads and lists people', async () => {
      await t.store.createPerson(person('bob'));
      await t.store.createPerson(person('alice', { email: null, name: null }));
      assert.deepEqual(await t.store.getPerson('bob'), person('bob'));
      assert.equal(await t.store.getPerson('nobody'), null);
      assert.deepEqual((await t.store.listPeople()).map((p) => p.id), ['alice', 'bob']);
      assert.equal((await t.store.getPerson('alice'))?.email, null);
    });

    it('refuses a duplicate id with a conflict', async () => {
      await t.store.createPerson(person('alice'));
      await rejectsWith(t.store.createPerson(person('alice', { email: 'other@example.com' })), 'person_exists', 409);
      assert.equal((await t.store.getPerson('alice'))?.email, 'alice@example.com');
    });

    it('changes a person\'s status', async () => {
      await t.store.createPerson(person('alice'));
      assert.equal((await t.store.setPersonStatus('alice', 'deactivated'))?.status, 'deactivated');
      assert.equal((await t.store.getPerson('alice'))?.status, 'deactivated');
      assert.equal(await t.store.setPersonStatus('nobody', 'deactivated'), null);
    });

    it('creates an external person once per issuer and subject', async () => {
      const carol = person('carol', { issuer: 'https://idp.example', subject: 'sub-1' });
      assert.deepEqual(await t.store.ensureExternalPerson(carol), carol);
      const again = await t.store.ensureExternalPerson({ ...carol, email: 'changed@example.com', createdAt: NOW + 5 });
      assert.deepEqual(again, carol);
      assert.deepEqual(await t.store.ensureExternalPerson({ ...carol, id: 'carol-2' }), carol, 'the issuer and subject decide, not the proposed id');
      assert.equal(await t.store.getPerson('carol-2'), null);
      assert.equal((await t.store.listPeople()).length, 1);
      const elsewhere = person('carol@other', { issuer: 'https://other-idp.example', subject: 'sub-1' });
      assert.deepEqual(await t.store.ensureExternalPerson(elsewhere), elsewhere, 'the same subject at another issuer is someone else');
      assert.deepEqual((await t.store.listPeople()).map((p) => p.id), ['carol', 'carol@other']);
    });

    it('does not reactivate a deactivated external person who signs in again', async () => {
      const carol = person('carol', { issuer: 'https://idp.example', subject: 'sub-1' });
      await t.store.ensureExternalPerson(carol);
      await t.store.setPersonStatus('carol', 'deactivated');
      assert.equal((await t.store.ensureExternalPerson(carol)).status, 'deactivated');
      assert.equal((await t.store.getPerson('carol'))?.status, 'deactivated');
    });

    it('refuses an external person whose id another identity holds', async () => {
      await t.store.createPerson(person('carol'));
      await rejectsWith(t.store.ensureExternalPerson(person('carol', { issuer: 'https://idp.example', subject: 'sub-1' })), 'person_exists', 409);
      assert.equal((await t.store.getPerson('carol'))?.issuer, null);
    });
  });
  describe('agents and enrollment', () => {
    it('creates agents and finds them by id, SPIFFE ID and owner', async () => {
      const a = await t.withAgent('bot');
      await t.store.createPerson(person('bob'));
      const b = agent('other', 'bob');
      await t.store.createAgent(b, { tokenHash: 'hash-other', agentId: b.id, expiresAt: NOW + 900 });
      assert.deepEqual(await t.store.getAgent(a.id), a);
      assert.deepEqual(await t.store.getAgentBySpiffeId(a.spiffeId), a);
      assert.equal(await t.store.getAgentBySpiffeId('spiffe://mandate.test/agent/none'), null);
      assert.deepEqual((await t.store.listAgents()).map((x) => x.name).sort(), ['bot', 'other']);
      assert.deepEqual((await t.store.listAgents({ owner: 'bob' })).map((x) => x.name), ['other']);
    });

    it('keeps an agent\'s sponsor', async () => {
      await t.store.createPerson(person('alice'));
      await t.store.createPerson(person('sam'));
      const a = agent('sponsored', 'alice', { sponsor: 'sam' });
      await t.store.createAgent(a, { tokenHash: 'hash-sponsored', agentId: a.id, expiresAt: NOW + 900 });
      assert.equal((await t.store.getAgent(a.id))?.sponsor, 'sam');
      assert.equal((await t.store.getAgentBySpiffeId(a.spiffeId))?.sponsor, 'sam');
    });

    it('refuses a duplicate agent name and keeps the first', async () => {
      const a = await t.withAgent('bot');
      const dup = { ...agent('bot', 'alice'), id: 'agt_second', spiffeId: 'spiffe://mandate.test/agent/bot2' };
      await rejectsWith(t.store.createAgent(dup, { tokenHash: 'hash-dup', agentId: dup.id, expiresAt: NOW + 900 }), 'agent_exists', 409);
      assert.equal(await t.store.getAgent('agt_second'), null);
      assert.deepEqual(await t.store.getAgent(a.id), a);
    });

    it('enrolls once: the key is registered and the token is spent', async () => {
      const a = await t.withAgent('bot', 'hash-1');
      const first = await t.store.enrollAgent('hash-1', KEY, NOW + 10);
      assert.equal(first.ok, true);
      assert.ok(first.ok && first.agent.keys.length === 1 && first.agent.enrolledAt === NOW + 10);
      assert.deepEqual((await t.store.getAgent(a.id))?.keys, [KEY]);
      assert.deepEqual(await t.store.enrollAgent('hash-1', { ...KEY, kid: 'k2' }, NOW + 20), { ok: false, reason: 'used' });
      assert.deepEqual((await t.store.getAgent(a.id))?.keys, [KEY]);
    });

    it('refuses unknown and expired enrollment tokens, and inactive agents', async () => {
      assert.deepEqual(await t.store.enrollAgent('nope', KEY, NOW), { ok: false, reason: 'unknown' });
      await t.withAgent('late', 'hash-late', NOW + 60);
      assert.deepEqual(await t.store.enrollAgent('hash-late', KEY, NOW + 60), { ok: false, reason: 'expired' });
      const s = await t.withAgent('sleepy', 'hash-sleepy');
      await t.store.setAgentStatus(s.id, 'suspended');
      assert.deepEqual(await t.store.enrollAgent('hash-sleepy', KEY, NOW), { ok: false, reason: 'agent_not_active' });
      assert.deepEqual((await t.store.getAgent(s.id))?.keys, []);
    });

    it('lets exactly one of two concurrent enrollments win', async () => {
      const a = await t.withAgent('bot', 'hash-race');
      const results = await Promise.all([t.store.enrollAgent('hash-race', KEY, NOW), t.store.enrollAgent('hash-race', { ...KEY, kid: 'k2' }, NOW)]);
      assert.equal(results.filter((r) => r.ok).length, 1);
      assert.deepEqual(results.filter((r) => !r.ok), [{ ok: false, reason: 'used' }]);
      const winner = results.find((r) => r.ok);
      assert.ok(winner?.ok);
      assert.deepEqual((await t.store.getAgent(a.id))?.keys, winner.agent.keys);
      assert.equal(winner.agent.keys.length, 1);
    });

    it('suspends and reactivates, but never brings back a retired agent', async () => {
      const a = await t.withAgent('bot');
      assert.equal((await t.store.setAgentStatus(a.id, 'suspended'))?.status, 'suspended');
      assert.equal((await t.store.setAgentStatus(a.id, 'active'))?.status, 'active');
      assert.equal((await t.store.setAgentStatus(a.id, 'retired'))?.status, 'retired');
      assert.equal((await t.store.setAgentStatus(a.id, 'active'))?.status, 'retired');
      assert.equal(await t.store.setAgentStatus('agt_none', 'active'), null);
    });
  });
  describe('servers and tools', () => {
    it('stores a server with its labelled tools', async () => {
      const server = { name: 'fs', upstream: { transport: 'stdio' as const, command: 'npx', args: ['-y', 'server-filesystem', '/tmp'] }, environment: 'prod' as const, createdAt: NOW };
      const tools = [
        { server: 'fs', name: 'read_file', sensitivity: 'internal' as const, effect: 'read' as const, egress: 'internal' as const, labelled: true, firstSeen: NOW },
        { server: 'fs', name: 'write_file', sensitivity: 'confidential' as const, effect: 'write' as const, egress: 'external' as const, labelled: false, firstSeen: NOW },
      ];
      await t.store.createServer(server, tools);
      await t.store.createServer({ name: 'web', upstream: { transport: 'http', url: 'https://mcp.example/mcp' }, environment: null, createdAt: NOW }, []);
      assert.deepEqual(await t.store.getServer('fs'), server);
      assert.equal((await t.store.getServer('web'))?.environment, null, 'a server for any environment');
      assert.deepEqual(await t.store.listTools('fs'), tools);
      assert.deepEqual((await t.store.listServers()).map((s) => s.name), ['fs', 'web']);
      assert.deepEqual(await t.store.listTools('web'), []);
      assert.equal(await t.store.getServer('none'), null);
    });

    it('discovers tools: present since registration at first, stamped when new afterwards', async () => {
      await t.store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://a.example' }, environment: null, createdAt: NOW }, [
        { server: 'fs', name: 'read_file', sensitivity: 'internal', effect: 'read', egress: 'internal', labelled: true, firstSeen: NOW },
      ]);
      const first = await t.store.discoverTools('fs', ['read_file', 'list_dir'], NOW + 100);
      assert.deepEqual(first.map((t) => [t.name, t.firstSeen, t.labelled, t.sensitivity]), [['list_dir', NOW, false, 'confidential'], ['read_file', NOW, true, 'internal']]);
      const later = await t.store.discoverTools('fs', ['read_file', 'list_dir', 'delete_all'], NOW + 200);
      assert.deepEqual(later.find((t) => t.name === 'delete_all')?.firstSeen, NOW + 200);
      assert.equal(later.find((t) => t.name === 'list_dir')?.firstSeen, NOW);
      assert.deepEqual(await t.store.discoverTools('none', ['x'], NOW), []);
    });

    it('refuses a duplicate server name and leaves its tools alone', async () => {
      await t.store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://a.example' }, environment: null, createdAt: NOW }, []);
      const again = t.store.createServer({ name: 'fs', upstream: { transport: 'http', url: 'https://b.example' }, environment: null, createdAt: NOW }, [
        { server: 'fs', name: 'x', sensitivity: 'public', effect: 'read', egress: 'internal', labelled: true, firstSeen: NOW },
      ]);
      await rejectsWith(again, 'server_exists', 409);
      assert.deepEqual((await t.store.getServer('fs'))?.upstream, { transport: 'http', url: 'https://a.example' });
      assert.deepEqual(await t.store.listTools('fs'), []);
    });
  });
}
