// The verifier a role's password is stored as: a server holding it accepts the
// password's SCRAM proof — checked against RFC 7677's worked example and against the
// proof pg's own client computes when it logs in.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { scramVerifier } from './postgres-scram.ts';

interface SaslSession { clientNonce: string; response: string; message: string }
const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[]): SaslSession;
  continueSession(session: SaslSession, password: string, serverFirst: string): Promise<void>;
  finalizeSession(session: SaslSession, serverFinal: string): void;
};

/** The server's side of SCRAM-SHA-256 from a stored verifier (RFC 5802 §3). */
function serverCheck(verifier: string, authMessage: string, proof: string): { accepted: boolean; serverSignature: string } {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  assert.ok(match, `a SCRAM-SHA-256 verifier: ${verifier}`);
  const storedKey = Buffer.from(match[3] as string, 'base64');
  const serverKey = Buffer.from(match[4] as string, 'base64');
  const signature = createHmac('sha256', storedKey).update(authMessage).digest();
  const clientKey = Buffer.from(proof, 'base64').map((byte, i) => byte ^ (signature[i] as number));
  const accepted = timingSafeEqual(createHash('sha256').update(clientKey).digest(), storedKey);
  return { accepted, serverSignature: createHmac('sha256', serverKey).update(authMessage).digest('base64') };
}

describe('a role password\'s SCRAM-SHA-256 verifier', () => {
  it('matches RFC 7677\'s example exchange (user "user", password "pencil")', () => {
    const verifier = scramVerifier('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), iterations: 4096 });
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    const check = serverCheck(verifier, authMessage, 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    assert.equal(check.accepted, true);
    assert.equal(check.serverSignature, '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('accepts the proof pg\'s client makes for the password, and no other password\'s', async () => {
    const password = randomBytes(32).toString('base64url');
    const verifier = scramVerifier(password);
    assert.match(verifier, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    assert.ok(!verifier.includes(password));
    const salt = verifier.split('$')[1]?.split(':')[1] as string;
    for (const [tried, expected] of [[password, true], [`${password}x`, false]] as const) {
      const session = sasl.startSession(['SCRAM-SHA-256']);
      const serverFirst = `r=${session.clientNonce}${randomBytes(12).toString('base64')},s=${salt},i=4096`;
      await sasl.continueSession(session, tried, serverFirst);
      const withoutProof = session.response.replace(/,p=[^,]+$/, '');
      const proof = session.response.slice(withoutProof.length + 3);
      const check = serverCheck(verifier, `n=*,r=${session.clientNonce},${serverFirst},${withoutProof}`, proof);
      assert.equal(check.accepted, expected);
      if (expected) sasl.finalizeSession(session, `v=${check.serverSignature}`);
    }
  });

  it('is salted afresh each time', () => {
    assert.notEqual(scramVerifier('same-password'), scramVerifier('same-password'));
  });
});
