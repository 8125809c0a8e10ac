// Credentials through the control plane and the CLI, and their key-encryption key:
// answers carry metadata only; the database holds the secret sealed; a missing or
// wrong KEK refuses by name; rotating the KEK — offline with the CLI, or staged with
// the running server — keeps every credential usable and the old key unneeded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectToGateway } from '../src/client/mcp-client.ts';
import { KEK_FILE, writeNewKekFile } from '../src/credentials/kek.ts';
import { createApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import type { MandateError } from '../src/errors.ts';
import { exchange, grantScenario, startMandate, type Harness } from './harness.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

const SECRET = 'sk_live_api-credential-31f7a2b9c4d8e6';
const ENV_SECRET = 'stdio-credential-8e2d4c6a0b9f1735';
const ENV_SERVER = new URL('./fixtures/env-server.ts', import.meta.url).pathname;
const FLAGS = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'mandate-credentials-'));
});
after(() => rm(work, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string>, input?: string): Promise<CliRun> {
  return runMandate(args, { ...process.env, ...env }, { input });
}

const keysOf = (value: unknown): string[] => Object.keys(value as object).sort();

describe('the credentials API', () => {
  let h: Harness;
  before(async () => {
    h = await startMandate();
    assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'api', url: 'http://127.0.0.1:9/v1', kind: 'http-api' } })).status, 201);
    assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'tool', command: 'true' } })).status, 201);
  });
  after(() => h.close());

  it('answers metadata only, never the secret, its sealed form or its wrapped key', async () => {
    const created = await h.api('POST', '/api/v1/credentials', { body: { name: 'api-key', server: 'api', inject: { header: 'Authorization', format: 'Bearer {secret}' }, secret: SECRET } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(keysOf(created.body), ['created_at', 'id', 'inject', 'kek_id', 'name', 'rewrapped_at', 'rotated_at', 'server']);
    assert.match(String(created.body.id), /^crd_/);
    assert.deepEqual(created.body.inject, { header: 'authorization', format: 'Bearer {secret}' });
    assert.match(String(created.body.kek_id), /^kek_/);
    const id = String(created.body.id);
    const listed = await h.api('GET', '/api/v1/credentials');
    assert.deepEqual((listed.body.credentials as unknown[]).map(keysOf), [keysOf(created.body)]);
    assert.deepEqual((await h.api('GET', '/api/v1/credentials?server=tool')).body.credentials, []);
    assert.deepEqual((await h.api('GET', `/api/v1/credentials/${id}`)).body, created.body);
    const replaced = await h.api('PUT', `/api/v1/credentials/${id}/secret`, { body: { secret: `${SECRET}-2` } });
    assert.equal(replaced.status, 200);
    assert.notEqual(replaced.body.rotated_at, null);
    for (const answer of [created, listed, replaced]) assert.ok(!JSON.stringify(answer.body).includes(SECRET));
    assert.deepEqual((await h.api('DELETE', `/api/v1/credentials/${id}`)).body, { removed: id });
    assert.equal((await h.api('GET', `/api/v1/credentials/${id}`)).body.code, 'credential_not_found');
  });

  it('keeps the secret sealed in the database', async () => {
    const created = await h.api('POST', '/api/v1/credentials', { body: { name: 'sealed-one', server: 'tool', inject: { env: 'TOOL_TOKEN' }, secret: SECRET } });
    assert.equal(created.status, 201);
    const db = new DatabaseSync(join(h.dataDir, 'mandate.db'), { readOnly: true });
    const row = db.prepare('SELECT * FROM credentials WHERE id = ?').get(String(created.body.id)) as Record<string, unknown>;
    db.close();
    assert.deepEqual([row.kind, row.target, row.kek_id], ['env', 'TOOL_TOKEN', created.body.kek_id]);
    const forms = [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('hex')];
    for (const column of ['sealed', 'wrapped_key']) {
      const blob = Buffer.from(row[column] as Uint8Array);
      for (const form of forms) assert.ok(!blob.includes(Buffer.from(form)), `${column} holds no form of the secret`);
    }
    const kek = (await readFile(join(h.dataDir, KEK_FILE), 'utf8')).trim();
    for (const file of (await readdir(h.dataDir)).filter((f) => f.startsWith('mandate.db'))) {
      const bytes = await readFile(join(h.dataDir, file));
      for (const form of [...forms, kek]) assert.ok(!bytes.includes(Buffer.from(form)), `${file} holds neither the secret nor the KEK`);
    }
  });

  it('refuses what it cannot take, precisely, and only the admin may use it', async () => {
    const base = { name: 'x-cred', server: 'api', inject: { header: 'X-Key' }, secret: SECRET };
    const refusals: Array<[unknown, number, string]> = [
      [{ ...base, secret: undefined }, 400, 'invalid_body'],
      [{ ...base, secret: 'short' }, 400, 'invalid_body'],
      [{ ...base, inject: { header: 'Host' } }, 400, 'invalid_injection'],
      [{ ...base, inject: { header: 'X-Key', format: 'no placeholder' } }, 400, 'invalid_injection'],
      [{ ...base, inject: { env: 'TOKEN' } }, 400, 'injection_unsupported'],
      [{ ...base, server: 'tool' }, 400, 'injection_unsupported'],
      [{ ...base, server: 'nowhere' }, 400, 'server_not_found'],
      [{ ...base, name: 'Bad Name' }, 400, 'invalid_credential_name'],
      [{ ...base, secret: `line\nbreak${SECRET}` }, 400, 'invalid_secret'],
      [{ ...base, extra: true }, 400, 'invalid_body'],
    ];
    for (const [body, status, code] of refusals) {
      const answer = await h.api('POST', '/api/v1/credentials', { body });
      assert.deepEqual([answer.status, answer.body.code], [status, code], JSON.stringify(body));
      assert.ok(!JSON.stringify(answer.body).includes(SECRET), 'a refusal never quotes the secret');
    }
    assert.equal((await h.api('POST', '/api/v1/credentials', { body: base })).status, 201);
    assert.equal((await h.api('POST', '/api/v1/credentials', { body: { ...base, inject: { header: 'X-Other' } } })).body.code, 'credential_exists');
    assert.equal((await h.api('POST', '/api/v1/credentials', { body: { ...base, name: 'other' } })).body.code, 'credential_target_taken');
    await h.api('POST', '/api/v1/users', { body: { id: 'pat' } });
    const person = String((await h.api('POST', '/api/v1/users/pat/login')).body.token);
    for (const [method, path] of [['GET', '/api/v1/credentials'], ['POST', '/api/v1/credentials'], ['POST', '/api/v1/credentials/rotate-kek']]) {
      const answer = await h.api(method as string, path as string, { token: person, body: method === 'POST' ? base : undefined });
      assert.deepEqual([answer.status, answer.body.code], [403, 'admin_required'], `${method} ${path}`);
    }
  });

  it('is in the OpenAPI document, the secret write-only', async () => {
    const doc = (await h.api('GET', '/api/v1/openapi.json', { token: null })).body as { paths: Record<string, Record<string, { requestBody?: { content: { 'application/json': { schema: { properties: Record<string, { writeOnly?: boolean }> } } } } }>> };
    assert.deepEqual(Object.keys(doc.paths).filter((p) => p.startsWith('/api/v1/credentials')).sort(), [
      '/api/v1/credentials', '/api/v1/credentials/rotate-kek', '/api/v1/credentials/{id}', '/api/v1/credentials/{id}/secret',
    ]);
    assert.equal(doc.paths['/api/v1/credentials']?.post?.requestBody?.content['application/json'].schema.properties.secret?.writeOnly, true);
  });

  it('is driven by the CLI, the secret from a file or stdin and never from the command line', async () => {
    const env = { MANDATE_URL: h.url, MANDATE_TOKEN: h.adminToken, MANDATE_DATA_DIR: h.dataDir };
    const secretFile = join(work, 'secret.txt');
    await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const added = await cli(['credential', 'add', 'from-file', '--server', 'api', '--header', 'X-From-File', '--secret-file', secretFile, '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    const id = String((JSON.parse(added.stdout) as { id: string }).id);
    const piped = await cli(['credential', 'add', 'from-stdin', '--server', 'tool', '--env', 'PIPED', '--secret-stdin'], env, `${SECRET}\n`);
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /injected as\s+env PIPED/);
    const onLine = await cli(['credential', 'add', 'nope', '--server', 'api', '--header', 'X-Nope', '--secret', SECRET], env);
    assert.equal(onLine.code, 2);
    assert.match(onLine.stderr, /Unknown option '--secret'/);
    const both = await cli(['credential', 'add', 'nope', '--server', 'api', '--header', 'X-Nope'], env);
    assert.match(both.stderr, /exactly one of --secret-file FILE and --secret-stdin/);
    const list = await cli(['credential', 'list'], env);
    assert.match(list.stdout, /from-file\s+api\s+header x-from-file: \{secret\}/);
    const shown = await cli(['credential', 'show', id], env);
    assert.match(shown.stdout, /kek id\s+kek_/);
    for (const output of [added, piped, list, shown]) assert.ok(!`${output.stdout}${output.stderr}`.includes(SECRET));
    // The file's final newline is not part of the secret: what is injected is the secret as written.
    assert.equal((await cli(['credential', 'remove', id], env)).code, 0);
  });
});

describe('the key-encryption key', () => {
  let dataDir: string;
  let envCredential: string;

  /** Mandate on `dataDir` with the KEK settings given; connects an agent to `envy` and returns what its upstream saw, or the refusal. */
  async function useEnvCredential(overrides: Partial<Config>): Promise<{ sha256?: string; refused?: McpError }> {
    const h = await startMandate(overrides, { dataDir });
    try {
      const scenario = await grantScenario(h, { allow: ['envy/env-digest'] });
      const token = String((await exchange(h, scenario, { resource: `${h.url}/mcp/envy` })).body.access_token);
      let client;
      try {
        client = await connectToGateway(`${h.url}/mcp/envy`, token, scenario.key, 'kek-test');
      } catch (error) {
        if (error instanceof McpError) return { refused: error };
        throw error;
      }
      const report = (await client.callTool({ name: 'env-digest', arguments: { name: 'ENVY_TOKEN' } })).structuredContent as { sha256: string };
      await client.close();
      return { sha256: report.sha256 };
    } finally {
      await h.close();
    }
  }

  before(async () => {
    dataDir = join(work, 'data');
    const h = await startMandate({}, { dataDir });
    assert.equal((await h.api('POST', '/api/v1/servers', { body: { name: 'envy', command: process.execPath, args: [...FLAGS, ENV_SERVER, 'stdio'] } })).status, 201);
    const created = await h.api('POST', '/api/v1/credentials', { body: { name: 'envy-token', server: 'envy', inject: { env: 'ENVY_TOKEN' }, secret: ENV_SECRET } });
    assert.equal(created.status, 201);
    envCredential = String(created.body.id);
    await h.close();
  });

  it('refuses a credential sealed under another key, by name, and serves nothing with it', async () => {
    const wrong = join(work, 'wrong.kek');
    await writeNewKekFile(wrong);
    const { refused } = await useEnvCredential({ kekFile: wrong });
    assert.ok(refused, 'the session was refused');
    assert.equal(refused.code, -32603);
    assert.equal((refused.data as { code: string }).code, 'kek_mismatch');
    assert.match(refused.message, new RegExp(`credential ${envCredential} \\(envy-token\\) is sealed under key-encryption key kek_\\S+, which is not loaded`));
    const h = await startMandate({ kekFile: wrong }, { dataDir });
    try {
      assert.equal((await h.api('GET', '/api/v1/credentials')).status, 200, 'metadata needs no key');
      const rotate = await h.api('POST', '/api/v1/credentials/rotate-kek');
      assert.deepEqual([rotate.status, rotate.body.code], [503, 'kek_mismatch']);
    } finally {
      await h.close();
    }
  });

  it('refuses every use when no key is configured at all', async () => {
    const bare = join(work, 'bare');
    const h = await startMandate({}, { dataDir: bare });
    await h.close();
    await rm(join(bare, KEK_FILE));
    // Served without `mandate init`, which would make the data directory's key again.
    const app = await createApp(loadConfig({}, { dataDir: bare }));
    try {
      await app.catalog.add({ name: 'api', upstream: { transport: 'http-api', url: 'http://127.0.0.1:9' }, tools: [] }, 0);
      await assert.rejects(app.credentials.add({ name: 'k', server: 'api', inject: { header: 'X-Key' }, secret: SECRET }, 0), (error: unknown) => {
        assert.deepEqual([(error as MandateError).code, (error as MandateError).status], ['kek_missing', 503]);
        assert.match((error as Error).message, /no key-encryption key is configured and .*kek does not exist: set MANDATE_KEK_FILE or MANDATE_KEK, or run `mandate init`/);
        return true;
      });
    } finally {
      await app.close();
    }
  });

  it('rotates offline with the CLI: every data key rewrapped, the old key no longer needed', async () => {
    assert.equal((await useEnvCredential({})).sha256, sha256(ENV_SECRET), 'usable under the data directory\'s key');
    const next = join(work, 'next.kek');
    const rotated = await cli(['credential', 'rotate-kek', '--new-kek-file', next, '--json'], { MANDATE_DATA_DIR: dataDir });
    assert.equal(rotated.code, 0, rotated.stderr);
    const answer = JSON.parse(rotated.stdout) as { kek_id: string; rewrapped: number; created: boolean };
    assert.deepEqual([answer.rewrapped, answer.created], [1, true]);
    await rm(join(dataDir, KEK_FILE));
    assert.equal((await useEnvCredential({ kekFile: next })).sha256, sha256(ENV_SECRET));
  });

  it('rotates staged: the new key current and the old one previous, the server rewraps, then the old one goes', async () => {
    const current = join(work, 'next.kek');
    const newer = join(work, 'newer.kek');
    const newerKek = await writeNewKekFile(newer);
    const h = await startMandate({ kekFile: newer, kekPreviousFile: current }, { dataDir });
    try {
      const rotate = await h.api('POST', '/api/v1/credentials/rotate-kek');
      assert.deepEqual(rotate.body, { kek_id: newerKek.id, rewrapped: 1, unchanged: 0 });
      assert.deepEqual((await h.api('POST', '/api/v1/credentials/rotate-kek')).body, { kek_id: newerKek.id, rewrapped: 0, unchanged: 1 });
      assert.equal(((await h.api('GET', `/api/v1/credentials/${envCredential}`)).body.kek_id), newerKek.id);
    } finally {
      await h.close();
    }
    assert.equal((await useEnvCredential({ kekFile: newer, kekPreviousFile: null })).sha256, sha256(ENV_SECRET));
  });
});

describe('the default policies on credentials and HTTP APIs', () => {
  it('pass their shipped tests', async () => {
    const run = await cli(['policy', 'test', 'policies/tests/http-and-credentials.test.json', '--policies', 'policies/default'], {});
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /^10 tests: 10 passed, 0 failed/);
  });
});
