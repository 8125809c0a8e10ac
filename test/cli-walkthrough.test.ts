// The CLI end to end, as separate processes the way a person types it:
// init → serve → user add → login → server add → agent add → enroll → grant → token.
// The task token is then checked with independent JWT libraries (jsonwebtoken +
// jwks-rsa) against the published JWKS, introspected active, revoked with
// `mandate revoke`, and introspected inactive.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import jwt from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { freePort } from './harness.ts';
import { runMandate, type CliRun } from './fixtures/cli.ts';

const BIN = new URL('../bin/mandate.js', import.meta.url).pathname;
const SPIFFE_ID = 'spiffe://mandate.local/agent/report-bot';

let workDir: string | undefined;
let server: ChildProcess | undefined;

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = once(server, 'exit');
    server.kill('SIGTERM');
    await exited;
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mandate <args>` as its own process and collects what it printed. */
function run(env: NodeJS.ProcessEnv, args: string[]): Promise<CliRun> {
  return runMandate(args, env);
}

/** RFC 7638 thumbprint of an EC public key, computed here rather than with Mandate's helper. */
function thumbprint(jwk: { crv: string; x: string; y: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y })).digest('base64url');
}

/** Verifies with jsonwebtoken, the key looked up by `kid` in the served JWKS by jwks-rsa. */
function verifyWithJwks(token: string, jwksUri: string, options: jwt.VerifyOptions): Promise<jwt.Jwt> {
  const jwks = new JwksClient({ jwksUri, cache: false });
  const getKey: jwt.GetPublicKeyOrSecret = (header, callback) => {
    jwks.getSigningKey(header.kid).then((key) => callback(null, key.getPublicKey()), (error: Error) => callback(error));
  };
  return new Promise((resolve, reject) => {
    jwt.verify(token, getKey, { ...options, complete: true }, (error, decoded) => (error ? reject(error) : resolve(decoded as jwt.Jwt)));
  });
}

it('walks the CLI from init to a verified task token that stops working once the mandate is revoked', async () => {
  workDir = await mkdtemp(join(tmpdir(), 'mandate-cli-'));
  const dataDir = join(workDir, 'data');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, MANDATE_DATA_DIR: dataDir, MANDATE_PORT: String(port) };
  const mandate = (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Run> => run({ ...env, ...extra }, args);
  const ok = async (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<string> => {
    const answer = await mandate(args, extra);
    assert.equal(answer.code, 0, `mandate ${args.join(' ')} failed (${answer.code}): ${answer.stderr}`);
    return answer.stdout;
  };
  /** Runs a verb that must fail: non-zero exit, nothing on stdout, one line on stderr. */
  const fails = async (args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; reason: string }> => {
    const answer = await mandate(args, extra);
    assert.notEqual(answer.code, 0, `mandate ${args.join(' ')} should fail`);
    assert.equal(answer.stdout, '', 'a failure prints nothing on stdout');
    const lines = answer.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `one line on stderr, got: ${answer.stderr}`);
    assert.match(lines[0] as string, /^mandate: \S/);
    return { code: answer.code, reason: lines[0] as string };
  };

  // init: creates the data dir, keys and an admin credential; a second run creates nothing.
  const first = JSON.parse(await ok(['init', '--json'])) as { created: string[]; admin_credential: string };
  assert.ok(first.created.includes('admin credential'), JSON.stringify(first.created));
  assert.equal(first.admin_credential, join(dataDir, 'admin.token'));
  const filesAfterFirst = (await readdir(dataDir)).sort();
  const adminToken = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
  const second = JSON.parse(await ok(['init', '--json'])) as { created: string[] };
  assert.deepEqual(second.created, []);
  assert.deepEqual((await readdir(dataDir)).sort(), filesAfterFirst);
  assert.equal((await readFile(join(dataDir, 'admin.token'), 'utf8')).trim(), adminToken, 'the admin credential is kept');
  assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  assert.equal((await stat(join(dataDir, 'admin.token'))).mode & 0o777, 0o600);

  // Errors: a non-zero exit and a one-line reason.
  const usage = await fails(['grant', '--purpose', 'x', '--allow', 'fs/read_file']);
  assert.equal(usage.code, 2);
  assert.match(usage.reason, /--agent is required/);
  const unreachable = await fails(['user', 'add', 'bob'], { MANDATE_PORT: String(await freePort()) });
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.reason, /cannot reach Mandate/);

  // serve, until /healthz answers.
  let serverLog = '';
  server = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  server.stderr?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  for (let healthy = false; !healthy;) {
    assert.equal(server.exitCode, null, `mandate serve exited: ${serverLog}`);
    healthy = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (!healthy) await new Promise((r) => setTimeout(r, 50));
  }

  await ok(['user', 'add', 'alice', '--email', 'alice@example.com']);
  const personToken = (await ok(['login', 'alice'])).trim();
  assert.match(personToken, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'login prints the person token alone');

  await ok(['server', 'add', 'fs', '--command', 'npx -y @modelcontextprotocol/server-filesystem ./reports', '--tool', 'read_file=internal,read,internal']);
  const added = JSON.parse(await ok(['agent', 'add', 'report-bot', '--owner', 'alice', '--purpose', 'summarize quarterly reports', '--json'])) as {
    agent: { id: string; spiffe_id: string; owner: string }; enrollment_token: string;
  };
  assert.equal(added.agent.spiffe_id, SPIFFE_ID);
  assert.equal(added.agent.owner, 'alice');

  const keyFile = join(workDir, 'report-bot.key.json');
  await ok(['agent', 'enroll', '--token', added.enrollment_token, '--key-file', keyFile]);
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  const keyJwk = (JSON.parse(await readFile(keyFile, 'utf8')) as { key: { crv: string; x: string; y: string } }).key;

  const granted = JSON.parse(await ok(['grant', '--agent', added.agent.id, '--purpose', 'summarize Q3', '--allow', 'fs/read_file', '--ttl', '10m', '--json'], { MANDATE_TOKEN: personToken })) as {
    mandate: { id: string; grantor: string; expires_at: string }; mandate_token: string;
  };
  assert.equal(granted.mandate.grantor, 'alice');
  const exchanged = JSON.parse(await ok(['token', '--mandate-token', granted.mandate_token, '--key-file', keyFile, '--json'])) as { access_token: string; token_type: string };
  assert.equal(exchanged.token_type, 'DPoP');
  const taskToken = exchanged.access_token;

  // The task token, verified against the published JWKS by libraries that are not Mandate's.
  const currentKid = (JSON.parse(await ok(['keys', 'list', '--json'])) as { keys: Array<{ kid: string; state: string }> }).keys.find((k) => k.state === 'current')?.kid;
  const verified = await verifyWithJwks(taskToken, `${url}/.well-known/jwks.json`, { algorithms: ['ES256'], audience: `${url}/mcp/fs`, issuer: url });
  assert.equal(verified.header.typ, 'at+jwt');
  assert.equal(verified.header.alg, 'ES256');
  assert.equal(verified.header.kid, currentKid, 'signed with the current key');
  const claims = verified.payload as jwt.JwtPayload;
  assert.deepEqual(Object.keys(claims).sort(), ['act', 'aud', 'client_id', 'cnf', 'exp', 'iat', 'iss', 'jti', 'mandate_id', 'scope', 'sub']);
  assert.equal(claims.iss, url);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.aud, `${url}/mcp/fs`);
  assert.equal(claims.client_id, SPIFFE_ID);
  assert.equal(claims.scope, 'fs/read_file');
  assert.deepEqual(claims.act, { sub: SPIFFE_ID });
  assert.equal(claims.mandate_id, granted.mandate.id);
  assert.deepEqual(claims.cnf, { jkt: thumbprint(keyJwk) });
  assert.equal(typeof claims.jti, 'string');
  assert.ok((claims.jti as string).length > 0);
  const { iat, exp } = claims as { iat: number; exp: number };
  assert.ok(exp > iat && exp - iat <= 300, `lifetime ${exp - iat} s`);
  assert.ok(exp <= Date.parse(granted.mandate.expires_at) / 1000, 'the task token does not outlive its mandate');

  const introspect = async (): Promise<Record<string, unknown>> => {
    const response = await fetch(`${url}/oauth/introspect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: taskToken }).toString(),
    });
    assert.equal(response.status, 200);
    return (await response.json()) as Record<string, unknown>;
  };
  const live = await introspect();
  assert.equal(live.active, true);
  assert.equal(live.mandate_id, granted.mandate.id);

  const revoked = JSON.parse(await ok(['revoke', granted.mandate.id, '--reason', 'task cancelled', '--json'])) as { kind: string; revoked: string[] };
  assert.equal(revoked.kind, 'mandate');
  assert.deepEqual(revoked.revoked, [granted.mandate.id]);
  assert.deepEqual(await introspect(), { active: false });
  assert.match((await fails(['token', '--mandate-token', granted.mandate_token, '--key-file', keyFile])).reason, /revoked/, 'no new task token from a revoked mandate');
});
