// The CLI end to end, as separate processes the way a person types it:
// init → serve → user add → login → server add → agent add → enroll → grant → token,
// then the task token checked with an independent JOSE library against the
// published JWKS, and introspected inactive after `mandate revoke`.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { promisify } from 'node:util';
import jwt from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { jwkThumbprint } from '../src/identity/jwk.ts';
import { freePort } from './harness.ts';

const BIN = new URL('../bin/mandate.js', import.meta.url).pathname;

let dataDir: string;
let env: NodeJS.ProcessEnv;
let url: string;
let server: ChildProcess | undefined;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function mandate(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function ok(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> {
  const run = await mandate(args, extraEnv);
  assert.equal(run.code, 0, `mandate ${args.join(' ')} failed: ${run.stderr}`);
  return run.stdout;
}

async function waitForHealth(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('mandate serve did not become healthy');
}

async function introspect(token: string): Promise<Record<string, unknown>> {
  const admin = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  const response = await fetch(`${url}/oauth/introspect`, {
    method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString(),
  });
  assert.equal(response.status, 200);
  return (await response.json()) as Record<string, unknown>;
}

before(async () => {
  dataDir = join(await mkdtemp(join(tmpdir(), 'mandate-cli-')), 'data');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  env = { PATH: process.env.PATH, HOME: process.env.HOME, MANDATE_DATA_DIR: dataDir, MANDATE_PORT: String(port) };
});

after(async () => {
  server?.kill('SIGTERM');
  await rm(join(dataDir, '..'), { recursive: true, force: true });
});

it('walks the CLI from init to a verified, revocable task token', async () => {
  const first = JSON.parse(await ok(['init', '--json'])) as { created: string[] };
  assert.ok(first.created.includes('admin credential'));
  const second = JSON.parse(await ok(['init', '--json'])) as { created: string[] };
  assert.deepEqual(second.created, [], 'init is idempotent');
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dataDir, 'admin.token'))).mode & 0o777, 0o600);

  server = spawn(process.execPath, [BIN, 'serve'], { env, stdio: 'ignore' });
  await waitForHealth();

  await ok(['user', 'add', 'alice', '--email', 'alice@example.com']);
  const personToken = (await ok(['login', 'alice'])).trim();
  assert.match(personToken, /^[\w-]+\.[\w-]+\.[\w-]+$/);

  await ok(['server', 'add', 'fs', '--command', 'npx -y @modelcontextprotocol/server-filesystem /tmp', '--tool', 'read_file=internal,read,internal']);
  const added = JSON.parse(await ok(['agent', 'add', 'report-bot', '--owner', 'alice', '--purpose', 'summarize reports', '--json'])) as { agent: { id: string; spiffe_id: string }; enrollment_token: string };
  assert.equal(added.agent.spiffe_id, 'spiffe://mandate.local/agent/report-bot');

  const keyFile = join(dataDir, '..', 'report-bot.key.json');
  await ok(['agent', 'enroll', '--token', added.enrollment_token, '--key-file', keyFile]);
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  const reused = await mandate(['agent', 'enroll', '--token', added.enrollment_token, '--key-file', `${keyFile}.2`]);
  assert.notEqual(reused.code, 0, 'an enrollment token works once');
  assert.match(reused.stderr, /already been used/);

  const granted = JSON.parse(await ok(['grant', '--agent', added.agent.id, '--purpose', 'summarize Q3', '--allow', 'fs/read_file', '--ttl', '10m', '--json'], { MANDATE_TOKEN: personToken })) as {
    mandate: { id: string; expires_at: string }; mandate_token: string;
  };
  const exchanged = JSON.parse(await ok(['token', '--mandate-token', granted.mandate_token, '--key-file', keyFile, '--json'])) as { access_token: string; token_type: string };
  assert.equal(exchanged.token_type, 'DPoP');
  const taskToken = exchanged.access_token;

  // Verified with jsonwebtoken + jwks-rsa against the published JWKS: not our code, not jose.
  const header = jwt.decode(taskToken, { complete: true })?.header;
  assert.equal(header?.typ, 'at+jwt');
  assert.equal(header?.alg, 'ES256');
  const signingKey = await new JwksClient({ jwksUri: `${url}/.well-known/jwks.json` }).getSigningKey(header?.kid);
  const claims = await promisify<string, string, jwt.VerifyOptions, jwt.JwtPayload>(jwt.verify)(taskToken, signingKey.getPublicKey(), {
    algorithms: ['ES256'], audience: `${url}/mcp/fs`, issuer: url,
  });
  const keyJwk = (JSON.parse(await readFile(keyFile, 'utf8')) as { key: Record<string, string> }).key;
  assert.deepEqual(Object.keys(claims).sort(), ['act', 'aud', 'client_id', 'cnf', 'exp', 'iat', 'iss', 'jti', 'mandate_id', 'scope', 'sub']);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.aud, `${url}/mcp/fs`);
  assert.equal(claims.client_id, 'spiffe://mandate.local/agent/report-bot');
  assert.deepEqual(claims.act, { sub: 'spiffe://mandate.local/agent/report-bot' });
  assert.equal(claims.mandate_id, granted.mandate.id);
  assert.equal(claims.scope, 'fs/read_file');
  assert.deepEqual(claims.cnf, { jkt: jwkThumbprint({ kty: 'EC', crv: 'P-256', x: keyJwk.x, y: keyJwk.y }) });
  assert.ok(typeof claims.jti === 'string' && claims.jti.length > 0);
  assert.ok((claims.exp as number) - (claims.iat as number) <= 300);
  assert.ok((claims.exp as number) <= Date.parse(granted.mandate.expires_at) / 1000);

  assert.equal((await introspect(taskToken)).active, true);
  const revoked = JSON.parse(await ok(['revoke', granted.mandate.id, '--reason', 'task cancelled', '--json'])) as { revoked: string[] };
  assert.deepEqual(revoked.revoked, [granted.mandate.id]);
  assert.deepEqual(await introspect(taskToken), { active: false });
  const again = await mandate(['token', '--mandate-token', granted.mandate_token, '--key-file', keyFile]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /revoked/);
});

it('fails with a one-line reason and a non-zero exit', async () => {
  const usage = await mandate(['grant', '--purpose', 'x', '--allow', 'fs/read_file']);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr.trim().split('\n').length, 1);
  assert.match(usage.stderr, /--agent is required/);

  const unreachable = await mandate(['user', 'add', 'bob'], { MANDATE_URL: `http://127.0.0.1:${await freePort()}` });
  assert.equal(unreachable.code, 1);
  assert.equal(unreachable.stderr.trim().split('\n').length, 1);
  assert.match(unreachable.stderr, /cannot reach Mandate/);

  const unknown = await mandate(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command/);
});
