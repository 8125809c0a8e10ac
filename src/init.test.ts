// mandate init on a real data directory: the default policies go into a new policy
// directory; an existing one gets only the defaults new in this version, never one
// removed on purpose and never over a file of the same name.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from './config.ts';
import { DEFAULT_POLICY_MANIFEST, init } from './init.ts';

const DEFAULTS = (await readdir(new URL('../policies/default/', import.meta.url))).filter((f) => f.endsWith('.cedar')).sort();

async function withDataDir(run: (dataDir: string, policyDir: string, again: () => Promise<string[]>) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mandate-init-'));
  const again = async () => (await init(loadConfig({}, { dataDir, trustDomain: 'mandate.test' }))).created;
  try {
    await run(dataDir, join(dataDir, 'policies'), again);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

const cedarFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.endsWith('.cedar')).sort();

describe('mandate init and the default policies', () => {
  it('installs every default into a new data directory, and changes nothing when run again', async () => {
    await withDataDir(async (_dataDir, policyDir, again) => {
      assert.ok((await again()).includes('default policies'));
      assert.deepEqual(await cedarFiles(policyDir), DEFAULTS);
      assert.deepEqual(JSON.parse(await readFile(join(policyDir, DEFAULT_POLICY_MANIFEST), 'utf8')).installed, DEFAULTS);
      assert.deepEqual(await again(), []);
    });
  });

  it('never brings back a default removed on purpose, nor overwrites a file of its name', async () => {
    await withDataDir(async (_dataDir, policyDir, again) => {
      await again();
      await rm(join(policyDir, 'flow.cedar'));
      await writeFile(join(policyDir, 'http.cedar'), '// ours\n');
      assert.deepEqual(await again(), []);
      assert.deepEqual(await cedarFiles(policyDir), DEFAULTS.filter((f) => f !== 'flow.cedar'));
      assert.equal(await readFile(join(policyDir, 'http.cedar'), 'utf8'), '// ours\n');
    });
  });

  it('adds the defaults new in this version to an existing policy directory', async () => {
    await withDataDir(async (_dataDir, policyDir, again) => {
      await again();
      // As a data directory of an older version: installed before flow.cedar existed, and before the manifest.
      await rm(join(policyDir, 'flow.cedar'));
      await rm(join(policyDir, DEFAULT_POLICY_MANIFEST));
      assert.deepEqual(await again(), ['default policies new in this version (flow.cedar)']);
      assert.equal(await readFile(join(policyDir, 'flow.cedar'), 'utf8'), await readFile(new URL('../policies/default/flow.cedar', import.meta.url), 'utf8'));
      assert.deepEqual(JSON.parse(await readFile(join(policyDir, DEFAULT_POLICY_MANIFEST), 'utf8')).installed, DEFAULTS);
    });
  });
});
