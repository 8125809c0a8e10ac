import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { verifyWebhook, webhookHeaders, webhookKey, webhookSignature } from './standard-webhooks.ts';

// The test vector of the Standard Webhooks specification (and of its reference libraries).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('Standard Webhooks signatures', () => {
  const key = webhookKey(VECTOR.secret);

  it('reproduce the specification\'s test vector', () => {
    assert.equal(key.length, 24);
    assert.equal(webhookSignature(key, VECTOR.id, VECTOR.timestamp, VECTOR.body), VECTOR.signature);
    assert.deepEqual(webhookHeaders(key, VECTOR.id, VECTOR.timestamp, VECTOR.body), {
      'webhook-id': VECTOR.id, 'webhook-timestamp': '1614265330', 'webhook-signature': VECTOR.signature,
    });
  });

  it('are an HMAC-SHA256 of "<id>.<timestamp>.<body>" under the decoded secret', () => {
    const body = JSON.stringify({ type: 'approval.requested', data: { id: 'apr_1' } });
    const mac = createHmac('sha256', Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64')).update(`msg_1.1700000000.${body}`).digest('base64');
    assert.equal(webhookSignature(key, 'msg_1', 1_700_000_000, body), `v1,${mac}`);
  });

  it('verify only the exact body, id and a timestamp within the tolerance, under the right key', () => {
    const headers = { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature };
    assert.equal(verifyWebhook(key, headers, VECTOR.body, VECTOR.timestamp + 10), true);
    assert.equal(verifyWebhook(key, { ...headers, 'webhook-signature': `v1,bm90IGl0 ${VECTOR.signature}` }, VECTOR.body, VECTOR.timestamp), true, 'one of several signatures');
    assert.equal(verifyWebhook(key, headers, '{"test": 2432232315}', VECTOR.timestamp), false, 'another body');
    assert.equal(verifyWebhook(key, { ...headers, 'webhook-id': 'msg_other' }, VECTOR.body, VECTOR.timestamp), false, 'another id');
    assert.equal(verifyWebhook(key, headers, VECTOR.body, VECTOR.timestamp + 301), false, 'too old');
    assert.equal(verifyWebhook(key, headers, VECTOR.body, VECTOR.timestamp - 301), false, 'too far ahead');
    assert.equal(verifyWebhook(webhookKey('whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ='), headers, VECTOR.body, VECTOR.timestamp), false, 'another key');
    assert.equal(verifyWebhook(key, { ...headers, 'webhook-signature': VECTOR.signature.replace('v1,', 'v1a,') }, VECTOR.body, VECTOR.timestamp), false, 'another scheme');
    assert.equal(verifyWebhook(key, { 'webhook-id': VECTOR.id, 'webhook-signature': VECTOR.signature }, VECTOR.body, VECTOR.timestamp), false, 'no timestamp');
  });

  it('refuse a secret that is not whsec_ and base64', () => {
    for (const secret of ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_', 'whsec_not base64!']) {
      assert.throws(() => webhookKey(secret), (error: unknown) => error instanceof MandateError && error.code === 'webhook_secret_invalid', secret);
    }
  });
});
