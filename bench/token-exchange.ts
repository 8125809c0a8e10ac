// Token-exchange throughput against plain `jose` signing of the same claims, measured
// side by side in one process, interleaved over several rounds.
//
//   A  TokenEndpoint.handle: the complete server-side exchange — parameter checks,
//      private_key_jwt verification and jti replay cache, DPoP proof verification,
//      mandate-token verification, mandate/agent/person state from SQLite, scope
//      narrowing, signing the task token. Client assertions and proofs are made
//      before the timed loop (they are the agent's work, not the server's).
//   B  jose: new SignJWT(claims).sign(key) of the same task-token claims.
//   F  the crypto floor of one exchange with node:crypto alone: verify two ES256
//      signatures (client assertion, DPoP proof) and make one (the task token), on
//      bare KeyObjects with DER signatures (node:crypto's fastest path).
//   C  POST /oauth/token over loopback HTTP with a few concurrent clients, for
//      information (the clients share the machine's cores with the server).
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { SignJWT, decodeJwt } from 'jose';
import { listen } from '../src/api/server.ts';
import { clientAssertion, dpopProof } from '../src/client/agent-key.ts';
import { CLIENT_ASSERTION_TYPE } from '../src/identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_JWT } from '../src/delegation/token-exchange.ts';
import { nowSeconds } from '../src/lib/clock.ts';
import { benchWorld, type BenchWorld } from './setup.ts';
import { fmt, median, percentile } from './stats.ts';

const ROUNDS = 5;
const PER_ROUND = 1500;
const HTTP_SECONDS = 4;
const HTTP_CLIENTS = 4;

interface Request {
  form: URLSearchParams;
  proof: string;
}

function makeRequests(world: BenchWorld, tokenUrl: string, count: number): Request[] {
  const requests: Request[] = [];
  for (let i = 0; i < count; i++) {
    const form = new URLSearchParams({
      grant_type: GRANT_TYPE_TOKEN_EXCHANGE, subject_token: world.mandateToken, subject_token_type: TOKEN_TYPE_JWT, resource: world.resource,
      client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: clientAssertion(world.key, tokenUrl),
    });
    requests.push({ form, proof: dpopProof(world.key, 'POST', tokenUrl) });
  }
  return requests;
}

async function timeExchanges(world: BenchWorld, requests: Request[]): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  const started = performance.now();
  for (const { form, proof } of requests) {
    const t0 = performance.now();
    await world.app.tokenEndpoint.handle(form, proof, nowSeconds());
    latencies.push(performance.now() - t0);
  }
  return { perSecond: requests.length / ((performance.now() - started) / 1000), latencies };
}

async function timeJose(claims: Record<string, unknown>, kid: string, count: number): Promise<number> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(privateKey);
  }
  return count / ((performance.now() - started) / 1000);
}

/** Two ES256 verifications and one signature over inputs of the real sizes, nothing else. */
function timeCryptoFloor(request: Request, taskToken: string, count: number): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const parts = [request.form.get('client_assertion') as string, request.proof, taskToken].map((jws) => Buffer.from(jws.slice(0, jws.lastIndexOf('.'))));
  const [assertionInput, proofInput, taskInput] = parts as [Buffer, Buffer, Buffer];
  const assertionSignature = sign('sha256', assertionInput, privateKey);
  const proofSignature = sign('sha256', proofInput, privateKey);
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    verify('sha256', assertionInput, publicKey, assertionSignature);
    verify('sha256', proofInput, publicKey, proofSignature);
    sign('sha256', taskInput, privateKey);
  }
  return count / ((performance.now() - started) / 1000);
}

async function timeHttp(world: BenchWorld, port: number): Promise<{ perSecond: number; p50: number; p99: number; errors: number }> {
  const running = await listen(world.app, port);
  const tokenUrl = `${world.app.config.publicUrl}/oauth/token`;
  const pool = makeRequests(world, tokenUrl, 4000);
  let next = 0;
  let errors = 0;
  const latencies: number[] = [];
  const deadline = performance.now() + HTTP_SECONDS * 1000;
  const client = async (): Promise<void> => {
    while (performance.now() < deadline && next < pool.length) {
      const { form, proof } = pool[next++] as Request;
      const t0 = performance.now();
      const response = await fetch(`${running.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof }, body: form.toString() });
      await response.arrayBuffer();
      if (response.status !== 200) errors++;
      latencies.push(performance.now() - t0);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: HTTP_CLIENTS }, client));
  const elapsed = (performance.now() - started) / 1000;
  await running.close();
  return { perSecond: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

export interface TokenExchangeResult {
  exchangesPerSecond: number;
  joseSignsPerSecond: number;
  cryptoFloorPerSecond: number;
  /** Median over rounds of A/B within each round (A and B run back to back). */
  ratio: number;
  ratioRange: [number, number];
  exchangeP50Ms: number;
  exchangeP99Ms: number;
  http: { perSecond: number; p50Ms: number; p99Ms: number; clients: number; errors: number };
}

export async function tokenExchangeBench(port: number): Promise<TokenExchangeResult> {
  const world = await benchWorld(port);
  try {
    const tokenUrl = `${world.app.config.publicUrl}/oauth/token`;
    const [first] = makeRequests(world, tokenUrl, 1) as [Request];
    const sample = await world.app.tokenEndpoint.handle(first.form, first.proof, nowSeconds());
    const claims = decodeJwt(sample.access_token) as Record<string, unknown>;
    const kid = world.app.keys.current.kid;
    // Warm-up: JIT, caches, SQLite statement cache.
    await timeExchanges(world, makeRequests(world, tokenUrl, 300));
    await timeJose(claims, kid, 300);

    const exchangeRates: number[] = [];
    const joseRates: number[] = [];
    const floorRates: number[] = [];
    const ratios: number[] = [];
    const latencies: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const requests = makeRequests(world, tokenUrl, PER_ROUND);
      const a = await timeExchanges(world, requests);
      exchangeRates.push(a.perSecond);
      latencies.push(...a.latencies);
      joseRates.push(await timeJose(claims, kid, PER_ROUND));
      ratios.push(a.perSecond / (joseRates.at(-1) as number));
      floorRates.push(timeCryptoFloor(first, sample.access_token, PER_ROUND));
    }
    const http = await timeHttp(world, port);
    const exchangesPerSecond = median(exchangeRates);
    const joseSignsPerSecond = median(joseRates);
    return {
      exchangesPerSecond,
      joseSignsPerSecond,
      cryptoFloorPerSecond: median(floorRates),
      ratio: median(ratios),
      ratioRange: [Math.min(...ratios), Math.max(...ratios)],
      exchangeP50Ms: percentile(latencies, 50),
      exchangeP99Ms: percentile(latencies, 99),
      http: { perSecond: http.perSecond, p50Ms: http.p50, p99Ms: http.p99, clients: HTTP_CLIENTS, errors: http.errors },
    };
  } finally {
    await world.close();
  }
}

export function printTokenExchange(r: TokenExchangeResult): void {
  console.log('Token exchange (RFC 8693 + DPoP + private_key_jwt) vs plain jose signing, same claims, same run');
  console.log(`  rounds ${ROUNDS} × ${PER_ROUND}, interleaved A, B, F; medians of rounds (ratio: median of per-round A/B)`);
  console.log('');
  console.log(`  A  token exchange, in process      ${fmt(r.exchangesPerSecond).padStart(8)} /s   p50 ${fmt(r.exchangeP50Ms, 3)} ms   p99 ${fmt(r.exchangeP99Ms, 3)} ms`);
  console.log(`  B  jose SignJWT ES256              ${fmt(r.joseSignsPerSecond).padStart(8)} /s`);
  console.log(`     ratio A/B                       ${fmt(r.ratio, 2).padStart(8)} ×   (target ≥ 0.50 ×; rounds ${fmt(r.ratioRange[0], 2)}–${fmt(r.ratioRange[1], 2)})`);
  console.log(`  F  crypto floor: 2 verify + 1 sign ${fmt(r.cryptoFloorPerSecond).padStart(8)} /s   (node:crypto alone; A reaches ${fmt((r.exchangesPerSecond / r.cryptoFloorPerSecond) * 100)} % of it)`);
  console.log(`  C  POST /oauth/token over HTTP     ${fmt(r.http.perSecond).padStart(8)} /s   p50 ${fmt(r.http.p50Ms, 2)} ms   p99 ${fmt(r.http.p99Ms, 2)} ms   (${r.http.clients} clients on the same cores, ${r.http.errors} errors)`);
}
