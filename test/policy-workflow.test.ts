// Policy as code end to end, over a real Mandate (HTTP server, SQLite, the gateway in
// front of server-everything over stdio, the MCP SDK client as the agent): the policy
// store's REST API and its refusals, hot reload of the watched directory under a
// loop of real calls, shadow policies recorded and never enforced, `mandate policy
// validate | test | replay` as separate processes.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { exchange, freePort, grantScenario, startMandate, type Harness, type Scenario } from './harness.ts';
import { until } from './fixtures/until.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

const EVERYTHING = createRequire(import.meta.url).resolve('@modelcontextprotocol/server-everything/dist/index.js');
const REPO = new URL('..', import.meta.url).pathname;

let h: Harness;
let policyDir: string;
let work: string;

before(async () => {
  h = await startMandate();
  policyDir = join(h.dataDir, 'policies');
  work = await mkdtemp(join(tmpdir(), 'mandate-policy-work-'));
  const added = await h.api('POST', '/api/v1/servers', {
    body: { name: 'everything', command: process.execPath, args: [EVERYTHING, 'stdio'], tools: [{ name: 'echo', sensitivity: 'public', effect: 'read', egress: 'internal' }, { name: 'get-sum', sensitivity: 'public', effect: 'read', egress: 'internal' }] },
  });
  assert.equal(added.status, 201, JSON.stringify(added.body));
});
after(async () => {
  await h.close();
  await rm(work, { recursive: true, force: true });
});

/** `mandate <args>` as its own process. */
function mandate(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return runMandate(args, { PATH: process.env.PATH, HOME: process.env.HOME, MANDATE_URL: h.url, MANDATE_TOKEN: h.adminToken, MANDATE_DATA_DIR: h.dataDir, ...env }, { cwd: REPO });
}

async function connect(allow: string[]): Promise<{ client: Client; scenario: Scenario }> {
  const scenario = await grantScenario(h, { allow });
  const answer = await exchange(h, scenario, { resource: `${h.url}/mcp/everything` });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { client: await connectToGateway(`${h.url}/mcp/everything`, String(answer.body.access_token), scenario.key, 'policy-test'), scenario };
}

type Event = Record<string, unknown> & { seq: number; kind: string };
const lastSeq = async (): Promise<number> => ((await h.api('GET', '/api/v1/audit/events?limit=1')).body.events as Event[])[0]?.seq ?? 0;
const eventsAfter = async (seq: number): Promise<Event[]> => {
  const all: Event[] = [];
  for (let after = seq; ;) {
    const page = (await h.api('GET', `/api/v1/audit/events?after=${after}&limit=1000`)).body.events as Event[];
    all.push(...page);
    if (page.length < 1000) return all;
    after = page[page.length - 1]!.seq;
  }
};

const marker = (n: number): string => `@id("marker-${n}")\npermit (principal is Agent, action == Action::"prompts/get", resource is Prompt)\nwhen { context.purpose == "marker ${n}" };\n`;

describe('the policy store API', () => {
  it('shows the active set: hash, and each policy\'s id, file, line, effect and mode (admin only)', async () => {
    const { status, body } = await h.api('GET', '/api/v1/policies');
    assert.equal(status, 200);
    assert.equal(body.hash, h.app.policy().hash);
    const policies = body.policies as Array<Record<string, unknown>>;
    assert.deepEqual(policies.find((p) => p.id === 'owner-may-grant'), { id: 'owner-may-grant', file: 'delegation.cedar', line: 5, column: 1, effect: 'permit', mode: 'enforce', approval: null });
    assert.deepEqual((body.files as Array<{ file: string }>).map((f) => f.file), (await readdir(policyDir)).filter((f) => f.endsWith('.cedar')).sort());
    await h.api('POST', '/api/v1/users', { body: { id: 'pat' } });
    const person = String((await h.api('POST', '/api/v1/users/pat/login')).body.token);
    assert.equal((await h.api('GET', '/api/v1/policies', { token: person })).status, 403);
    assert.equal((await h.api('PUT', '/api/v1/policies/x.cedar', { token: person, body: { text: marker(0) } })).status, 403);
  });

  it('refuses an invalid file with 422 and every problem at file:line:column, writing nothing', async () => {
    const before = h.app.policy().hash;
    const text = `${marker(1)}\n@id("typo")\npermit (principal is Agent, action == Action::"tools/call", resource is Tool)\nwhen { resource.sensitivty == "secret" };\n\n@id("owner-may-grant")\nforbid (principal, action, resource);\n`;
    const response = await fetch(`${h.url}/api/v1/policies/extra.cedar`, { method: 'PUT', headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ text }) });
    assert.equal(response.status, 422);
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    const problem = await response.json() as Record<string, unknown>;
    assert.equal(problem.code, 'policy_invalid');
    assert.equal(problem.detail, 'the policy set with extra.cedar is invalid: extra.cedar:7:8: for policy `typo`, attribute `sensitivty` on entity type `Tool` not found (did you mean `sensitivity`?); '
      + 'extra.cedar:9:1: policy id "owner-may-grant" is already used by the policy at delegation.cedar:5:1');
    assert.deepEqual(problem.problems, [
      {
        file: 'extra.cedar', line: 7, column: 8, end_line: 7, end_column: 27, policy: 'typo', severity: 'error',
        message: 'for policy `typo`, attribute `sensitivty` on entity type `Tool` not found', help: 'did you mean `sensitivity`?',
      },
      {
        file: 'extra.cedar', line: 9, column: 1, end_line: 9, end_column: 23, policy: 'owner-may-grant', severity: 'error',
        message: 'policy id "owner-may-grant" is already used by the policy at delegation.cedar:5:1', help: null,
      },
    ]);
    assert.ok(!(await readdir(policyDir)).includes('extra.cedar'), 'the refused file is not on disk');
    assert.equal(h.app.policy().hash, before);
  });

  it('writes a valid file, shows it, and deletes it', async () => {
    const before = h.app.policy().hash;
    const put = await h.api('PUT', '/api/v1/policies/extra.cedar', { body: { text: marker(2) } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.created, true);
    assert.equal(put.body.previous_hash, before);
    assert.equal(put.body.hash, h.app.policy().hash);
    assert.notEqual(put.body.hash, before);
    assert.equal(await readFile(join(policyDir, 'extra.cedar'), 'utf8'), marker(2));
    const shown = await h.api('GET', '/api/v1/policies/extra.cedar');
    assert.deepEqual(shown.body, { file: 'extra.cedar', text: marker(2), policies: [{ id: 'marker-2', file: 'extra.cedar', line: 1, column: 1, effect: 'permit', mode: 'enforce', approval: null }] });
    // A broken replacement leaves the file as it was.
    assert.equal((await h.api('PUT', '/api/v1/policies/extra.cedar', { body: { text: 'permit (' } })).status, 422);
    assert.equal(await readFile(join(policyDir, 'extra.cedar'), 'utf8'), marker(2));
    const deleted = await h.api('DELETE', '/api/v1/policies/extra.cedar');
    assert.equal(deleted.status, 200);
    assert.equal(deleted.body.hash, before);
    assert.equal(h.app.policy().hash, before);
    assert.equal((await h.api('DELETE', '/api/v1/policies/extra.cedar')).body.code, 'policy_file_not_found');
    assert.equal((await h.api('PUT', '/api/v1/policies/..%2Fescape.cedar', { body: { text: marker(3) } })).body.code, 'invalid_policy_file');
  });

  it('validates a candidate set without activating it', async () => {
    const before = h.app.policy().hash;
    const invalid = await h.api('POST', '/api/v1/policies/validate', { body: { files: { 'a.cedar': 'permit (principal, action, resource)\nwhen { 1 + };' } } });
    assert.equal(invalid.status, 200);
    assert.equal(invalid.body.valid, false);
    assert.deepEqual((invalid.body.problems as Array<Record<string, unknown>>).map((p) => `${String(p.file)}:${String(p.line)}:${String(p.column)}`), ['a.cedar:2:12']);
    const over = await h.api('POST', '/api/v1/policies/validate', { body: { base: 'active', files: { 'gateway.cedar': null, 'm.cedar': marker(4) } } });
    assert.equal(over.body.valid, true);
    const kept = h.app.policy().policies.filter((p) => p.origin !== 'gateway.cedar').map((p) => p.id);
    assert.deepEqual((over.body.policies as Array<{ id: string }>).map((p) => p.id).sort(), [...kept, 'marker-4'].sort());
    assert.match(String(over.body.hash), /^sha256:/);
    assert.equal(h.app.policy().hash, before);
  });

  it('reloads on request: a broken directory is refused with its problems, the old set stays', async () => {
    const before = h.app.policy().hash;
    await writeFile(join(policyDir, 'broken.cedar'), '@id("b")\npermit (principal, action == Action::"tools/call", resource)\nwhen { context.nope };\n');
    const refused = await h.api('POST', '/api/v1/policies/reload');
    assert.equal(refused.status, 422);
    assert.deepEqual((refused.body.problems as Array<Record<string, unknown>>).map((p) => `${String(p.file)}:${String(p.line)}:${String(p.column)}: ${String(p.message)}`), [
      'broken.cedar:3:8: for policy `b`, attribute `nope` in context for Action::"tools/call" not found',
    ]);
    assert.equal(h.app.policy().hash, before);
    await rm(join(policyDir, 'broken.cedar'));
    const reloaded = await h.api('POST', '/api/v1/policies/reload');
    assert.equal(reloaded.status, 200);
    assert.equal(reloaded.body.hash, before);
    const listed = await h.api('GET', '/api/v1/policies');
    assert.equal((listed.body.last_reload as { ok: boolean }).ok, true);
  });

  it('is managed from the CLI: put (refused in one line when invalid), list, delete', async () => {
    const file = join(work, 'cli.cedar');
    await writeFile(file, '@id("cli")\npermit (principal is Agent, action == Action::"tools/call", resource)\nwhen { principal.nope };\n');
    const refused = await mandate(['policy', 'put', file]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'mandate: the policy set with cli.cedar is invalid: cli.cedar:3:8: for policy `cli`, attribute `nope` on entity type `Agent` not found (did you mean `name`?) (policy_invalid)\n');
    await writeFile(file, marker(5));
    const put = await mandate(['policy', 'put', file, '--as', 'from-cli.cedar', '--json']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal((JSON.parse(put.stdout) as { hash: string }).hash, h.app.policy().hash);
    const listed = await mandate(['policy', 'list']);
    assert.match(listed.stdout, new RegExp(`^policy set ${h.app.policy().hash} \\(${h.app.policy().policies.length} policies\\)\n`));
    assert.match(listed.stdout, /^marker-5 +from-cli\.cedar:1 +permit +enforce$/m);
    assert.equal((await mandate(['policy', 'delete', 'from-cli.cedar'])).code, 0);
    assert.ok(!(await readdir(policyDir)).includes('from-cli.cedar'));
  });

  it('is in the OpenAPI document', async () => {
    const paths = (await h.api('GET', '/api/v1/openapi.json', { token: null })).body.paths as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(paths['/api/v1/policies/{file}'] ?? {}).sort(), ['delete', 'get', 'put']);
    assert.ok(paths['/api/v1/policies']?.get && paths['/api/v1/policies/validate']?.post && paths['/api/v1/policies/reload']?.post);
  });
});

describe('shadow policies', () => {
  it('are recorded with the decision and never enforced', async () => {
    const shadow = '@id("shadow-no-echo")\n@mode("shadow")\nforbid (principal is Agent, action == Action::"tools/call", resource is Tool)\nwhen { resource.name == "echo" };\n';
    assert.equal((await h.api('PUT', '/api/v1/policies/shadow.cedar', { body: { text: shadow } })).status, 200);
    const { client, scenario } = await connect(['everything/echo']);
    const from = await lastSeq();
    const result = await client.callTool({ name: 'echo', arguments: { message: 'shadowed' } });
    assert.match(JSON.stringify(result.content), /shadowed/, 'the shadow forbid did not block the call');
    await client.close();
    const [decision] = (await eventsAfter(from)).filter((e) => e.kind === 'decision');
    assert.ok(decision);
    assert.equal(decision.decision, 'allow');
    assert.deepEqual(decision.policies, ['mandate-names-tool']);
    assert.deepEqual(decision.shadow, { decision: 'deny', policies: ['shadow-no-echo'], errors: [] });
    const request = decision.request as { principal: unknown; action: string; resource: unknown; context: Record<string, unknown> };
    assert.deepEqual([request.principal, request.action, request.resource, request.context.call], [{ type: 'Agent', id: scenario.agentId }, 'tools/call', { type: 'Tool', id: 'everything/echo' }, 'everything/echo']);
    const tail = await mandate(['audit', 'tail', '--limit', '5']);
    assert.equal(tail.code, 0, tail.stderr);
    assert.match(tail.stdout, /decision\s+alice ← agent\/bot-\w+\s+everything\/echo\s+allow\s+\(shadow: deny by shadow-no-echo\)/);
    assert.equal((await h.api('DELETE', '/api/v1/policies/shadow.cedar')).status, 200);
  });
});

describe('hot reload', () => {
  it('swaps sets under a loop of real calls through the gateway without dropping one', async () => {
    const connected = await Promise.all([0, 1, 2].map(() => connect(['everything/echo'])));
    const from = await lastSeq();
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loops = connected.map(async ({ client }, i) => {
      for (let n = 0; !stop; n++) {
        try {
          const result = await client.callTool({ name: 'echo', arguments: { message: `loop ${i} call ${n}` } });
          if (JSON.stringify(result.content).includes(`loop ${i} call ${n}`)) ok++;
          else failures.push(JSON.stringify(result));
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    });
    const hashes = [h.app.policy().hash];
    const active = async (n: number): Promise<boolean> => h.app.policy().policies.some((p) => p.id === `marker-${n}`);
    await until('the first calls', () => ok >= 10);
    // Saved in place, then the way editors save (a temporary file renamed over it), then a git-style new file.
    await writeFile(join(policyDir, 'live.cedar'), marker(10));
    await until('set 10', () => active(10));
    hashes.push(h.app.policy().hash);
    await writeFile(join(policyDir, '.live.cedar.tmp'), marker(11));
    await rename(join(policyDir, '.live.cedar.tmp'), join(policyDir, 'live.cedar'));
    await until('set 11', () => active(11));
    hashes.push(h.app.policy().hash);
    // A broken save is refused; the calls go on under the last good set.
    await writeFile(join(policyDir, 'live.cedar'), `${marker(12)}\nforbid (principal, action, resource) when { principal.nope };\n`);
    await until('the refused reload', async () => ((await h.api('GET', '/api/v1/policies')).body.last_reload as { ok: boolean } | null)?.ok === false);
    assert.equal(h.app.policy().hash, hashes[2]);
    const during = ok;
    await until('calls under the last good set', () => ok >= during + 10);
    await writeFile(join(policyDir, 'live.cedar'), marker(12));
    await until('set 12', () => active(12));
    hashes.push(h.app.policy().hash);
    await until('calls under the fixed set', () => ok >= during + 20);
    stop = true;
    await Promise.all(loops);
    await Promise.all(connected.map(({ client }) => client.close()));
    await rm(join(policyDir, 'live.cedar'));
    await until('the original set', () => h.app.policy().hash === hashes[0]);

    assert.deepEqual(failures, [], 'no call failed');
    const decisions = (await eventsAfter(from)).filter((e) => e.kind === 'decision' && e.tool === 'echo');
    assert.equal(decisions.length, ok);
    assert.ok(decisions.every((d) => d.decision === 'allow'));
    const seen = new Set(decisions.map((d) => d.policy_set_hash));
    assert.ok([...seen].every((hash) => hashes.includes(String(hash))), 'every decision names a set that was activated');
    assert.ok(seen.size >= 3, `decisions were made under ${seen.size} sets while they were swapped`);
  });
});

describe('mandate policy validate', () => {
  it('prints OK with the hash of the data directory\'s set', async () => {
    const run = await mandate(['policy', 'validate']);
    assert.equal(run.code, 0, run.stderr);
    const files = (await readdir(policyDir)).filter((f) => f.endsWith('.cedar')).length;
    assert.equal(run.stdout.trim(), `OK  ${h.app.policy().hash}  ${h.app.policy().policies.length} policies in ${files} files (${policyDir})`);
  });

  it('prints each problem as file:line:column and exits non-zero', async () => {
    const dir = join(work, 'broken');
    await cp(join(REPO, 'policies/default'), dir, { recursive: true });
    await writeFile(join(dir, 'zz.cedar'), '@id("late")\npermit (principal is Agent, action == Action::"tools/call", resource is Tool)\nwhen { resource.frist_seen > 0 };\n\n@id("worse")\npermit (principal, action, resource) when { ;\n');
    const run = await mandate(['policy', 'validate', dir]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, `${join(dir, 'zz.cedar')}:6:45: unexpected token \`;\` (expected \`!\`, \`(\`, \`-\`, \`[\`, \`{\`, \`}\`, \`false\`, identifier, \`if\`, number, \`?principal\`, \`?resource\`, string literal, or \`true\`)\n`);
    assert.equal(run.stderr, `mandate: 1 problem in the policy set of ${dir} (policy_invalid)\n`);
    await writeFile(join(dir, 'zz.cedar'), '@id("late")\npermit (principal is Agent, action == Action::"tools/call", resource is Tool)\nwhen { resource.frist_seen > 0 };\n');
    const json = await mandate(['policy', 'validate', dir, '--json']);
    assert.equal(json.code, 1);
    const answer = JSON.parse(json.stdout) as { valid: boolean; problems: Array<Record<string, unknown>> };
    assert.equal(answer.valid, false);
    assert.deepEqual(answer.problems.map((p) => [p.file, p.line, p.column, p.message, p.help]), [['zz.cedar', 3, 8, 'for policy `late`, attribute `frist_seen` on entity type `Tool` not found', 'did you mean `first_seen`?']]);
  });
});

describe('mandate policy test', () => {
  it('passes the shipped tests of the default policies (what CI runs)', async () => {
    const run = await mandate(['policy', 'test', 'policies/tests/default.test.json', '--policies', 'policies/default']);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /^\d+ tests: (\d+) passed, 0 failed — policy set sha256:[0-9a-f]{64} \(policies\/default\)\n$/);
  });

  it('reports a failing test: which, expected against got, the determining policies; exits non-zero', async () => {
    const dir = join(work, 'no-environment');
    await cp(join(REPO, 'policies/default'), dir, { recursive: true });
    const gateway = await readFile(join(dir, 'gateway.cedar'), 'utf8');
    await writeFile(join(dir, 'gateway.cedar'), gateway.slice(0, gateway.indexOf('@id("environment-must-match")')));
    const run = await mandate(['policy', 'test', join(REPO, 'policies/tests/default.test.json'), '--policies', dir]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^FAIL {2}a dev agent cannot use a prod server, whatever its mandate says {2}\(default\.test\.json #\d+\)\n {6}request {3}Agent::"report-bot" tools\/call Tool::"payments\/refund"\n {6}expected {2}deny by environment-must-match\n {6}got {7}allow by mandate-names-tool\n {6}why {7}expected deny, got allow \(by mandate-names-tool\)\n/);
    assert.match(run.stdout, /\n(\d+) tests: \d+ passed, 1 failed — policy set sha256:/);
    assert.match(run.stderr, /^mandate: 1 of \d+ policy tests failed \(policy_tests_failed\)\n$/);
    const json = JSON.parse((await mandate(['policy', 'test', join(REPO, 'policies/tests/default.test.json'), '--policies', dir, '--json'])).stdout) as { failed: number; results: Array<{ passed: boolean; name: string; got: { decision: string } }> };
    assert.equal(json.failed, 1);
    assert.deepEqual(json.results.filter((r) => !r.passed).map((r) => [r.name, r.got.decision]), [['a dev agent cannot use a prod server, whatever its mandate says', 'allow']]);
  });
});

describe('mandate policy replay', () => {
  it('re-decides the recorded calls under a changed directory and shows exactly what would change', async () => {
    const since = new Date(Date.now() - 1).toISOString();
    const first = await connect(['everything/echo']);
    const second = await connect(['everything/echo', 'everything/get-sum']);
    await first.client.callTool({ name: 'echo', arguments: { message: 'one' } });
    await first.client.callTool({ name: 'echo', arguments: { message: 'two' } });
    await assert.rejects(first.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }));
    await second.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    await second.client.callTool({ name: 'echo', arguments: { message: 'three' } });
    await first.client.close();
    await second.client.close();
    const recorded = (await eventsAfter(0)).filter((e) => e.kind === 'decision' && Date.parse(String(e.time)) >= Date.parse(since));
    assert.equal(recorded.length, 5);

    // The candidate: the active files, plus a forbid of echo for the first agent and a permit of get-sum for it.
    const candidate = join(work, 'candidate');
    await cp(policyDir, candidate, { recursive: true });
    const a = first.scenario.agentId;
    await writeFile(join(candidate, 'changes.cedar'), [
      `@id("no-echo-for-first")\nforbid (principal == Agent::"${a}", action == Action::"tools/call", resource == Tool::"everything/echo");`,
      `@id("sums-for-first")\npermit (principal == Agent::"${a}", action == Action::"tools/call", resource == Tool::"everything/get-sum");`,
    ].join('\n'));
    const run = await mandate(['policy', 'replay', '--since', since, '--policies', candidate, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Record<string, unknown> & { changes: Array<Record<string, unknown>> };
    const seqOf = (agent: Scenario, tool: string) => recorded.filter((e) => (e.agents as string[])[0] === agent.spiffeId && e.tool === tool).map((e) => e.seq);
    assert.equal(report.source, h.url);
    assert.deepEqual(report.changes.map((c) => [c.seq, c.change, c.agent, c.person, c.target, (c.recorded as { policies: string[] }).policies, (c.replayed as { policies: string[] }).policies]), [
      [seqOf(first.scenario, 'echo')[0], 'allow→deny', first.scenario.spiffeId, 'alice', 'echo', ['mandate-names-tool'], ['no-echo-for-first']],
      [seqOf(first.scenario, 'echo')[1], 'allow→deny', first.scenario.spiffeId, 'alice', 'echo', ['mandate-names-tool'], ['no-echo-for-first']],
      [seqOf(first.scenario, 'get-sum')[0], 'deny→allow', first.scenario.spiffeId, 'alice', 'get-sum', [], ['sums-for-first']],
    ]);
    assert.deepEqual(
      { replayed: report.replayed, unchanged: report.unchanged, policies_changed: report.policies_changed, allow_to_deny: report.allow_to_deny, deny_to_allow: report.deny_to_allow, skipped: report.skipped },
      { replayed: 5, unchanged: 2, policies_changed: 0, allow_to_deny: 2, deny_to_allow: 1, skipped: 0 },
    );
    const none = { to_approval: 0, from_approval: 0 };
    assert.deepEqual(report.by_agent, [{ agent: first.scenario.spiffeId, allow_to_deny: 2, deny_to_allow: 1, ...none }]);
    assert.deepEqual(report.by_policy, [{ policy: 'no-echo-for-first', allow_to_deny: 2, deny_to_allow: 0, ...none }, { policy: 'sums-for-first', allow_to_deny: 0, deny_to_allow: 1, ...none }]);
    assert.deepEqual(report.recorded_under, [h.app.policy().hash]);

    // Readably, and as a CI gate.
    const human = await mandate(['policy', 'replay', '--since', since, '--policies', candidate, '--fail-on-change']);
    assert.equal(human.code, 1);
    const short = first.scenario.spiffeId.replace(/^spiffe:\/\/[^/]+\//, '');
    assert.match(human.stdout, new RegExp(`^#${seqOf(first.scenario, 'echo')[0]}  \\S+  allow→deny  alice ← ${short}  everything/echo  by no-echo-for-first \\(was mandate-names-tool\\)$`, 'm'));
    assert.match(human.stdout, new RegExp(`^#${seqOf(first.scenario, 'get-sum')[0]}  \\S+  deny→allow  alice ← ${short}  everything/get-sum  by sums-for-first \\(was no policy\\)$`, 'm'));
    assert.match(human.stdout, /^3 would change: 2 allow→deny, 1 deny→allow; 2 unchanged \(0 by other policies\); 0 without a recorded request$/m);
    assert.match(human.stderr, /3 recorded decisions would change/);

    // Unchanged policies change nothing; with no server to ask, the store of the data directory is read.
    const same = await mandate(['policy', 'replay', '--since', since, '--json'], { MANDATE_URL: `http://127.0.0.1:${await freePort()}` });
    assert.equal(same.code, 0, same.stderr);
    const unchanged = JSON.parse(same.stdout) as Record<string, unknown>;
    assert.equal(unchanged.source, `the store in ${h.dataDir}`);
    assert.deepEqual([unchanged.replayed, unchanged.unchanged, unchanged.changes], [5, 5, []]);
  });
});
