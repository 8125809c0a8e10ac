// SPIFFE IDs and agent names: what becomes part of an agent's identity, and what is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MandateError } from '../errors.ts';
import { agentSpiffeId, assertAgentName, isSpiffeId } from './spiffe.ts';

function refusesName(name: string): void {
  assert.throws(() => assertAgentName(name), (e: unknown) => e instanceof MandateError && e.code === 'invalid_agent_name' && e.status === 400, JSON.stringify(name));
}

describe('agent names', () => {
  it('accepts letters, digits, dot, underscore and dash', () => {
    assert.doesNotThrow(() => assertAgentName('Invoice-bot_2.prod'));
  });

  it('accepts 128 characters', () => {
    assert.doesNotThrow(() => assertAgentName('a'.repeat(128)));
  });

  it('refuses 129 characters', () => {
    refusesName('a'.repeat(129));
  });

  it('refuses an empty name', () => {
    refusesName('');
  });

  it('refuses . and ..', () => {
    refusesName('.');
    refusesName('..');
  });

  it('refuses a slash, which would add a path segment to the SPIFFE ID', () => {
    refusesName('bot/admin');
    refusesName('../admin');
  });

  it('refuses spaces, URL syntax and non-ASCII letters', () => {
    for (const name of ['my bot', 'bot?x=1', 'bot#f', 'bot@host', 'bot%2F', 'bøt']) refusesName(name);
  });

  it('makes the SPIFFE ID under /agent/ in the trust domain', () => {
    assert.equal(agentSpiffeId('mandate.local', 'bot'), 'spiffe://mandate.local/agent/bot');
    assert.ok(isSpiffeId(agentSpiffeId('mandate.local', 'bot')));
  });
});

describe('isSpiffeId', () => {
  it('accepts a workload ID and a bare trust domain ID', () => {
    assert.equal(isSpiffeId('spiffe://example.org/ns/prod/sa/payments'), true);
    assert.equal(isSpiffeId('spiffe://example.org'), true);
  });

  it('refuses another scheme', () => {
    assert.equal(isSpiffeId('https://example.org/agent/bot'), false);
    assert.equal(isSpiffeId('SPIFFE://example.org/agent/bot'), false);
  });

  it('refuses an upper-case trust domain', () => {
    assert.equal(isSpiffeId('spiffe://Example.org/agent/bot'), false);
  });

  it('refuses a port', () => {
    assert.equal(isSpiffeId('spiffe://example.org:8443/agent/bot'), false);
  });

  it('refuses userinfo', () => {
    assert.equal(isSpiffeId('spiffe://admin@example.org/agent/bot'), false);
  });

  it('refuses a query or a fragment', () => {
    assert.equal(isSpiffeId('spiffe://example.org/agent/bot?x=1'), false);
    assert.equal(isSpiffeId('spiffe://example.org/agent/bot#f'), false);
  });

  it('refuses . and .. segments', () => {
    assert.equal(isSpiffeId('spiffe://example.org/agent/../admin'), false);
    assert.equal(isSpiffeId('spiffe://example.org/./agent'), false);
  });

  it('refuses empty segments and a trailing slash', () => {
    assert.equal(isSpiffeId('spiffe://example.org//agent'), false);
    assert.equal(isSpiffeId('spiffe://example.org/agent/'), false);
  });

  it('refuses an empty trust domain', () => {
    assert.equal(isSpiffeId('spiffe:///agent/bot'), false);
  });

  it('refuses percent-encoding', () => {
    assert.equal(isSpiffeId('spiffe://example.org/agent/b%6Ft'), false);
  });

  it('refuses an ID longer than 2048 bytes', () => {
    const long = `spiffe://example.org/${'a'.repeat(2048)}`;
    assert.equal(isSpiffeId(long), false);
    assert.equal(isSpiffeId(`spiffe://example.org/${'a'.repeat(2048 - 'spiffe://example.org/'.length)}`), true);
  });

  it('refuses a trust domain longer than 255 characters', () => {
    assert.equal(isSpiffeId(`spiffe://${'a'.repeat(256)}/x`), false);
    assert.equal(isSpiffeId(`spiffe://${'a'.repeat(255)}/x`), true);
  });
});
