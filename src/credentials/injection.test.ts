// The injections a credential may have, and the secrets it may carry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { checkInjectionFits, checkSecret, injectedValue, parseInjection, targetOf } from './injection.ts';

const refused = (code: string) => (error: unknown): boolean => error instanceof MandateError && error.code === code;

describe('credential injection', () => {
  it('takes a header (lower-cased, format around {secret}) or a variable', () => {
    const header = parseInjection({ header: 'Authorization', format: 'Bearer {secret}' });
    assert.deepEqual(header, { kind: 'header', header: 'authorization', format: 'Bearer {secret}' });
    assert.equal(targetOf(header), 'header:authorization');
    assert.equal(injectedValue(header, 'tok$&en'), 'Bearer tok$&en', 'the secret is put in literally');
    assert.deepEqual(parseInjection({ header: 'X-Api-Key' }), { kind: 'header', header: 'x-api-key', format: '{secret}' });
    assert.deepEqual(parseInjection({ env: 'GITHUB_TOKEN' }), { kind: 'env', variable: 'GITHUB_TOKEN' });
  });

  it('refuses headers the transport owns, formats without one {secret}, and Mandate\'s own variables', () => {
    for (const input of [{ header: 'Host' }, { header: 'Content-Length' }, { header: 'Mcp-Session-Id' }, { header: 'DPoP' }, { header: 'Proxy-Authorization' },
      { header: 'bad header' }, { header: 'X-Key', format: 'no placeholder' }, { header: 'X-Key', format: '{secret}{secret}' }, { header: 'X-Key', format: 'a\r\nb {secret}' },
      { env: 'MANDATE_KEK' }, { env: '1BAD' }, { env: 'A=B' }, { env: 'X', format: '{secret}' }, {}, { header: 'A', env: 'B' }]) {
      assert.throws(() => parseInjection(input), refused('invalid_injection'), JSON.stringify(input));
    }
  });

  it('fits a header to HTTP upstreams and a variable to stdio ones', () => {
    const stdio = { transport: 'stdio' as const, command: 'x', args: [] };
    const http = { transport: 'http' as const, url: 'http://x' };
    const api = { transport: 'http-api' as const, url: 'http://x' };
    checkInjectionFits('s', stdio, { kind: 'env', variable: 'T' });
    checkInjectionFits('s', http, { kind: 'header', header: 'a', format: '{secret}' });
    checkInjectionFits('s', api, { kind: 'header', header: 'a', format: '{secret}' });
    assert.throws(() => checkInjectionFits('s', stdio, { kind: 'header', header: 'a', format: '{secret}' }), refused('injection_unsupported'));
    assert.throws(() => checkInjectionFits('s', api, { kind: 'env', variable: 'T' }), refused('injection_unsupported'));
  });

  it('takes secrets of 8 to 16384 characters, printable for a header, and never quotes them', () => {
    const header = { kind: 'header' as const, header: 'a', format: '{secret}' };
    checkSecret('12345678', header);
    for (const secret of ['short', 'x'.repeat(16385), 'line\nbreak-secret', 'ünïcode-secret']) {
      assert.throws(() => checkSecret(secret, header), (error: unknown) => refused('invalid_secret')(error) && !(error as Error).message.includes(secret));
    }
    checkSecret('ünïcode-secret', { kind: 'env', variable: 'T' });
    assert.throws(() => checkSecret('nul\0inside', { kind: 'env', variable: 'T' }), refused('invalid_secret'));
  });
});
