// Presenting a task token at a resource: `Authorization: DPoP` + a proof by the key
// the token is bound to (cnf.jkt). Real keys, a real token service over a real store.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomUUID } from 'node:crypto';
import { dpopProof, generateAgentKey, type AgentKey } from '../client/agent-key.ts';
import { MandateError } from '../errors.ts';
import { nowSeconds } from '../lib/clock.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { generateSigningKey, KeyRing } from './keyring.ts';
import { ReplayCache } from './replay-cache.ts';
import { authenticateTaskRequest, type PresentedRequest } from './resource-auth.ts';
import { TokenService, type TaskClaims } from './tokens.ts';

const ISSUER = 'https://mandate.example';
const RESOURCE = `${ISSUER}/mcp/fs`;

let dir: string;
let store: SqliteStore;
let tokens: TokenService;
let agentKey: AgentKey;

function taskToken(overrides: Partial<TaskClaims> = {}, key: AgentKey = agentKey): string {
  const now = nowSeconds();
  const claims: TaskClaims = {
    iss: ISSUER, sub: 'alice', aud: RESOURCE, iat: now, exp: now + 300, jti: randomUUID(), client_id: 'spiffe://t/agent/bot', scope: 'fs/read_file',
    act: { sub: 'spiffe://t/agent/bot' }, mandate_id: 'mnd_1', cnf: { jkt: key.kid }, ...overrides,
  };
  return tokens.sign('task', claims);
}

const request = (token: string, proof: string | undefined, overrides: Partial<PresentedRequest> = {}): PresentedRequest => ({
  authorization: `DPoP ${token}`, dpop: proof, method: 'POST', url: RESOURCE, ...overrides,
});

const check = () => ({ resource: RESOURCE, now: nowSeconds(), dpopMaxAge: 60, notBefore: 0, replayCache: new ReplayCache() });

function refuses(fn: () => unknown, code: string, status = 401): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof MandateError);
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    return true;
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mandate-resource-'));
  store = new SqliteStore(join(dir, 'm.db'));
  await store.addSigningKey(generateSigningKey('current', nowSeconds()));
  const ring = new KeyRing(store);
  await ring.load();
  tokens = new TokenService(ring, { issuer: ISSUER, clockTolerance: 30 });
  agentKey = generateAgentKey();
});
after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('authenticateTaskRequest', () => {
  it('accepts a bound token with a fresh proof and returns its claims', () => {
    const token = taskToken();
    const claims = authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token)), check());
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.mandate_id, 'mnd_1');
  });

  it('refuses a proof made with a key other than cnf.jkt', () => {
    const token = taskToken();
    const thief = generateAgentKey();
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(thief, 'POST', RESOURCE, token)), check()), 'dpop_key_mismatch');
  });

  it('refuses a proof bound to another token (ath)', () => {
    const token = taskToken();
    const other = taskToken();
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, other)), check()), 'dpop_ath_mismatch');
  });

  it('refuses a replayed proof', () => {
    const token = taskToken();
    const proof = dpopProof(agentKey, 'POST', RESOURCE, token);
    const shared = check();
    authenticateTaskRequest(tokens, request(token, proof), shared);
    refuses(() => authenticateTaskRequest(tokens, request(token, proof), shared), 'dpop_replayed');
  });

  it('refuses the Bearer scheme and a missing header', () => {
    const token = taskToken();
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token), { authorization: `Bearer ${token}` }), check()), 'authorization_scheme');
    refuses(() => authenticateTaskRequest(tokens, request(token, undefined, { authorization: undefined }), check()), 'token_missing');
  });

  it('refuses a token for another resource', () => {
    const token = taskToken({ aud: `${ISSUER}/mcp/db` });
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token)), check()), 'token_audience_mismatch');
  });

  it('refuses an expired token', () => {
    const now = nowSeconds();
    const token = taskToken({ iat: now - 900, exp: now - 600 });
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token)), check()), 'token_expired');
  });

  it('refuses a mandate token or person token presented as a task token', () => {
    const now = nowSeconds();
    const person = tokens.issuePerson('alice', 3600, now).token;
    refuses(() => authenticateTaskRequest(tokens, request(person, dpopProof(agentKey, 'POST', RESOURCE, person)), check()), 'token_type_mismatch');
  });

  it('refuses a proof for another method or URL', () => {
    const token = taskToken();
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'GET', RESOURCE, token)), check()), 'dpop_htm_mismatch');
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', `${ISSUER}/mcp/db`, token)), check()), 'dpop_htu_mismatch');
  });
});

describe('authenticateTaskRequest, more refusals', () => {
  it('refuses a mandate token presented as a task token', () => {
    const now = nowSeconds();
    const mandate = tokens.sign('mandate', { iss: ISSUER, sub: 'alice', aud: RESOURCE, iat: now, exp: now + 300, jti: randomUUID(), cnf: { jkt: agentKey.kid } });
    refuses(() => authenticateTaskRequest(tokens, request(mandate, dpopProof(agentKey, 'POST', RESOURCE, mandate)), check()), 'token_type_mismatch');
  });

  it('refuses a task token that is not DPoP-bound (no cnf.jkt)', () => {
    const token = taskToken({ cnf: undefined as unknown as TaskClaims['cnf'] });
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token)), check()), 'token_not_dpop_bound');
  });

  it('refuses a bound token presented without a proof, as a 401 invalid_dpop_proof', () => {
    const token = taskToken();
    assert.throws(() => authenticateTaskRequest(tokens, request(token, undefined), check()), (error: unknown) => {
      assert.ok(error instanceof MandateError);
      assert.equal(error.code, 'dpop_missing');
      assert.equal(error.status, 401);
      assert.equal(error.oauthError, 'invalid_dpop_proof');
      return true;
    });
  });

  it('refuses a token whose signature was tampered with', () => {
    const [h, p, s] = taskToken().split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'fs/*' })).toString('base64url')}.${s}`;
    refuses(() => authenticateTaskRequest(tokens, request(tampered, dpopProof(agentKey, 'POST', RESOURCE, tampered)), check()), 'token_signature_invalid');
  });

  it('reports a token refusal as invalid_token and a key mismatch as invalid_dpop_proof', () => {
    const token = taskToken();
    assert.throws(() => authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token), { authorization: `Bearer ${token}` }), check()),
      (error: unknown) => error instanceof MandateError && error.oauthError === 'invalid_token');
    assert.throws(() => authenticateTaskRequest(tokens, request(token, dpopProof(generateAgentKey(), 'POST', RESOURCE, token)), check()),
      (error: unknown) => error instanceof MandateError && error.oauthError === 'invalid_dpop_proof');
  });

  it('refuses a stolen token even with the thief\'s proof made for that very token, while the holder is still accepted', () => {
    const token = taskToken();
    const thief = generateAgentKey();
    const shared = check();
    refuses(() => authenticateTaskRequest(tokens, request(token, dpopProof(thief, 'POST', RESOURCE, token)), shared), 'dpop_key_mismatch');
    assert.equal(authenticateTaskRequest(tokens, request(token, dpopProof(agentKey, 'POST', RESOURCE, token)), shared).sub, 'alice');
  });
});
