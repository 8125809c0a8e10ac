// The policy store over a real directory: changes through it are validated before
// anything is written; the watched directory is reloaded after editors' saves (in
// place, and write-then-rename), a broken save is refused with its positions and the
// last good set stays active; decisions keep being answered while sets are swapped.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AuthorizationRequest } from './engine.ts';
import { PolicyStore } from './policy-store.ts';
import { PolicyInvalidError } from './problems.ts';
import { until } from '../../test/fixtures/until.ts';

const SCHEMA = { origin: 'schema.cedarschema', text: readFileSync(new URL('../../policies/schema.cedarschema', import.meta.url), 'utf8') };
const DEFAULTS = new URL('../../policies/default/', import.meta.url);

let dir: string;
let store: PolicyStore;
const logged: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-policies-'));
  for (const file of ['delegation.cedar', 'gateway.cedar']) await copyFile(new URL(file, DEFAULTS), join(dir, file));
  store = await PolicyStore.open(dir, { schema: SCHEMA, debounceMs: 50, pollMs: 0, log: (line) => logged.push(line) });
  store.watch();
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const grant: AuthorizationRequest = {
  principal: { type: 'Person', id: 'alice' }, action: 'mandate/grant', resource: { type: 'Agent', id: 'bot' },
  context: { purpose: 'p', scope: [], ttl: 60, time: { now: 0, weekday: 4, hour: 0, minute: 0 } },
  entities: [
    { uid: { type: 'Person', id: 'alice' }, attrs: { status: 'active' }, parents: [] },
    { uid: { type: 'Agent', id: 'bot' }, attrs: { owner: { __entity: { type: 'Person', id: 'alice' } }, environment: 'dev', status: 'active', name: 'bot', purpose: 'p', spiffe_id: 'spiffe://t/agent/bot' }, parents: [] },
  ],
};

const marker = (n: number): string => `@id("marker-${n}")\npermit (principal is Person, action == Action::"mandate/grant", resource is Agent)\nwhen { context.purpose == "marker ${n}" };\n`;

describe('changes through the store', () => {
  it('writes a valid file and activates the set with it', async () => {
    const before = store.engine.hash;
    const { status, created } = await store.put('extra.cedar', marker(1));
    assert.equal(created, true);
    assert.equal(status.ok, true);
    assert.notEqual(store.engine.hash, before);
    assert.ok(store.engine.policies.some((p) => p.id === 'marker-1' && p.origin === 'extra.cedar' && p.line === 1));
    assert.equal(await readFile(join(dir, 'extra.cedar'), 'utf8'), marker(1));
  });

  it('refuses an invalid file with its positions and writes nothing', async () => {
    const before = store.engine.hash;
    await assert.rejects(store.put('extra.cedar', `${marker(2)}\n@id("bad")\npermit (principal is Agent, action == Action::"tools/call", resource)\nwhen { principal.nope };\n`), (error: unknown) => {
      assert.ok(error instanceof PolicyInvalidError);
      assert.deepEqual(error.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`), ['extra.cedar:7:8: for policy `bad`, attribute `nope` on entity type `Agent` not found']);
      return true;
    });
    await assert.rejects(store.put('new.cedar', 'permit (principal, action, resource'), PolicyInvalidError);
    assert.equal(store.engine.hash, before);
    assert.equal(await readFile(join(dir, 'extra.cedar'), 'utf8'), marker(1), 'the old content stays');
    assert.deepEqual((await readdir(dir)).sort(), ['delegation.cedar', 'extra.cedar', 'gateway.cedar'], 'no new or temporary file is left behind');
  });

  it('refuses names that are not plain .cedar files', async () => {
    for (const name of ['../escape.cedar', '.hidden.cedar', 'a/b.cedar', 'policy.txt', '']) {
      await assert.rejects(store.put(name, marker(3)), /is not a policy file name/, name);
    }
  });

  it('deletes a file and activates the set without it; an unknown file is 404', async () => {
    await store.remove('extra.cedar');
    assert.ok(!store.engine.policies.some((p) => p.origin === 'extra.cedar'));
    await assert.rejects(store.remove('extra.cedar'), (error: unknown) => (error as { status?: number }).status === 404);
  });

  it('checks a candidate without activating it', () => {
    const before = store.engine.hash;
    const checked = store.check([{ origin: 'only.cedar', text: marker(9) }]);
    assert.ok(checked.ok);
    assert.equal(checked.set.policies.length, 1);
    assert.equal(store.engine.hash, before);
  });
});

describe('the watched directory', () => {
  it('reloads a file saved in place', async () => {
    const before = store.engine.hash;
    await writeFile(join(dir, 'edited.cedar'), marker(10));
    await until('the saved file', () => store.engine.policies.some((p) => p.id === 'marker-10'));
    assert.notEqual(store.engine.hash, before);
    assert.equal(store.lastReload?.trigger, 'watch');
  });

  it('reloads a file saved the way editors do: a temporary file renamed over it', async () => {
    await writeFile(join(dir, '.edited.cedar.swp'), marker(11));
    await rename(join(dir, '.edited.cedar.swp'), join(dir, 'edited.cedar'));
    await until('the renamed file', () => store.engine.policies.some((p) => p.id === 'marker-11'));
    assert.ok(!store.engine.policies.some((p) => p.id === 'marker-10'));
  });

  it('refuses a broken save, logging where, and keeps the last good set until it is fixed', async () => {
    const good = store.engine.hash;
    logged.length = 0;
    // Saved whole (write, then rename): an in-place write is a truncate and a write,
    // and a loaded machine can show the empty file in between as a valid set.
    await writeFile(join(dir, '.edited.cedar.swp'), `${marker(12)}@id("typo")\npermit (principal is Agent, action == Action::"tools/call", resource is Tool)\nwhen { resource.sensitivty == "secret" };\n`);
    await rename(join(dir, '.edited.cedar.swp'), join(dir, 'edited.cedar'));
    await until('the refused reload', () => store.lastReload?.ok === false);
    assert.equal(store.engine.hash, good, 'the last good set stays active');
    assert.deepEqual(store.lastReload?.problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`), ['edited.cedar:6:8: for policy `typo`, attribute `sensitivty` on entity type `Tool` not found']);
    assert.match(logged.join('\n'), new RegExp(`policy reload \\(watch\\) refused, ${good} stays active:\\n  edited\\.cedar:6:8: for policy \`typo\``));
    assert.equal(store.engine.decide(grant).decision, 'allow', 'decisions go on under the last good set');
    await writeFile(join(dir, 'edited.cedar'), marker(12));
    await until('the fixed file', () => store.engine.policies.some((p) => p.id === 'marker-12'));
    assert.equal(store.lastReload?.ok, true);
  });

  it('keeps answering decisions while sets are swapped under it', async () => {
    let answered = 0;
    let stop = false;
    const failures: string[] = [];
    const deciding = (async () => {
      while (!stop) {
        // Read the engine once per decision, as the gateway does.
        const engine = store.engine;
        const decision = engine.decide({ ...grant, context: { ...grant.context, purpose: `call ${answered}` } });
        if (decision.decision !== 'allow' || decision.policySetHash !== engine.hash) failures.push(JSON.stringify(decision));
        answered++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const hashes = new Set<string>([store.engine.hash]);
    for (let n = 20; n < 26; n++) {
      await writeFile(join(dir, 'edited.cedar'), marker(n));
      await until(`set ${n}`, () => store.engine.policies.some((p) => p.id === `marker-${n}`));
      hashes.add(store.engine.hash);
    }
    stop = true;
    await deciding;
    assert.deepEqual(failures, []);
    assert.equal(hashes.size, 7);
    assert.ok(answered > 50, `${answered} decisions answered during the swaps`);
  });
});
