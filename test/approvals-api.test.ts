// Approvals through the control plane and the CLI, on a real Mandate: the approver
// kinds (owner, sponsor, initiator, group member) and who is refused, and the group
// directory and agent sponsors they rest on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startMandate, type Harness } from './harness.ts';

const BIN = new URL('../bin/mandate.js', import.meta.url).pathname;

function cli(h: Harness, args: string[], token = h.adminToken): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, MANDATE_URL: h.url, MANDATE_TOKEN: token, MANDATE_DATA_DIR: h.dataDir } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const json = <T = Record<string, unknown>>(answer: { code: number; stdout: string; stderr: string }): T => {
  assert.equal(answer.code, 0, answer.stderr);
  return JSON.parse(answer.stdout) as T;
};

describe('groups and sponsors', () => {
  let h: Harness;
  before(async () => {
    h = await startMandate();
    for (const id of ['alice', 'sam', 'olga', 'oscar']) assert.equal((await h.api('POST', '/api/v1/users', { body: { id } })).status, 201);
  });
  after(() => h.close());

  it('keeps groups of people: add, list, add and remove members, through REST and the CLI', async () => {
    const created = await h.api('POST', '/api/v1/groups', { body: { name: 'ops', members: ['olga', 'alice'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual([created.body.name, created.body.members], ['ops', ['alice', 'olga']]);
    assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'ops' } })).body.code, 'group_exists');
    assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'Bad Name' } })).body.code, 'invalid_group_name');
    assert.equal((await h.api('POST', '/api/v1/groups', { body: { name: 'x', members: ['nobody'] } })).body.code, 'person_not_found');

    const added = json<{ name: string; members: string[] }>(await cli(h, ['group', 'add', 'finance', '--member', 'sam', '--member', 'oscar', '--json']));
    assert.deepEqual(added.members, ['oscar', 'sam']);
    assert.deepEqual(json<{ members: string[] }>(await cli(h, ['group', 'add-member', 'ops', 'oscar', '--json'])).members, ['alice', 'olga', 'oscar']);
    assert.deepEqual(json<{ members: string[] }>(await cli(h, ['group', 'remove-member', 'ops', 'alice', '--json'])).members, ['olga', 'oscar']);
    const refused = await cli(h, ['group', 'remove-member', 'ops', 'alice']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /alice is not a member of group ops \(member_not_found\)/);
    const listed = json<{ groups: Array<{ name: string; members: string[] }> }>(await cli(h, ['group', 'list', '--json']));
    assert.deepEqual(listed.groups.map((g) => [g.name, g.members]), [['finance', ['oscar', 'sam']], ['ops', ['olga', 'oscar']]]);
    const human = await cli(h, ['group', 'list']);
    assert.match(human.stdout, /^NAME\s+MEMBERS\s+CREATED_AT$/m);
    assert.match(human.stdout, /^ops\s+olga,oscar\s/m);

    // Only the admin keeps the directory.
    const person = String((await h.api('POST', '/api/v1/users/olga/login')).body.token);
    assert.equal((await h.api('PUT', '/api/v1/groups/ops/members/olga', { token: person })).body.code, 'admin_required');
    assert.equal((await h.api('GET', '/api/v1/groups', { token: person })).status, 403);
  });

  it('gives an agent a sponsor, who must be a known, active person', async () => {
    const added = json<{ agent: Record<string, unknown> }>(await cli(h, ['agent', 'add', 'sponsored-bot', '--owner', 'alice', '--purpose', 'reports', '--sponsor', 'sam', '--json']));
    assert.equal(added.agent.sponsor, 'sam');
    assert.equal((await h.api('GET', `/api/v1/agents/${String(added.agent.id)}`)).body.sponsor, 'sam');
    const plain = await h.api('POST', '/api/v1/agents', { body: { name: 'plain-bot', owner: 'alice', purpose: 'reports' } });
    assert.equal((plain.body.agent as Record<string, unknown>).sponsor, null);
    assert.equal((await h.api('POST', '/api/v1/agents', { body: { name: 'b2', owner: 'alice', purpose: 'x', sponsor: 'nobody' } })).body.code, 'sponsor_not_found');
    await h.api('POST', '/api/v1/users/oscar/deactivate');
    assert.equal((await h.api('POST', '/api/v1/agents', { body: { name: 'b3', owner: 'alice', purpose: 'x', sponsor: 'oscar' } })).body.code, 'sponsor_inactive');
  });
});
