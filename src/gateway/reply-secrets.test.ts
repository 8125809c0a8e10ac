// What the gateway reads of a tool's reply for secrets: the text an agent reads, not
// the data it decodes; and which kinds withhold a reply when blocking is on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretsInReply, withholds } from './reply-secrets.ts';

const GITHUB_TOKEN = `ghp_${'aB3dE6gH9k'.repeat(4).slice(0, 36)}`;
const AWS_KEY = `AKIA${'Z2'.repeat(8)}`;
const result = (value: Record<string, unknown>) => ({ jsonrpc: '2.0' as const, id: 1, result: value });

describe('secrets in a tool reply', () => {
  it('reads text content, embedded resources\' text, resource links and structured content', () => {
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'text', text: `token ${GITHUB_TOKEN}` }] })), ['github_token']);
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'resource', resource: { uri: 'file:///.env', text: `KEY=${AWS_KEY}` } }] })), ['aws_access_key_id']);
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'resource_link', uri: 'https://u:hunter2@example.com/x', name: 'x' }] })), ['url_password']);
    assert.deepEqual(secretsInReply(result({ content: [], structuredContent: { config: { password: 'hunter2' } } })), ['password']);
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'text', text: 'a' }, { type: 'text', text: AWS_KEY }], structuredContent: { t: GITHUB_TOKEN } })), ['aws_access_key_id', 'github_token']);
  });

  it('reads an error\'s message and data', () => {
    assert.deepEqual(secretsInReply({ jsonrpc: '2.0', id: 1, error: { code: -32000, message: 'connect postgres://app:hunter2@db failed', data: { key: AWS_KEY } } }), ['aws_access_key_id', 'url_password']);
  });

  it('does not read images, audio or blobs, and finds nothing in a plain reply', () => {
    const data = Buffer.from(`${GITHUB_TOKEN} ${AWS_KEY}`).toString('base64');
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'image', data, mimeType: 'image/png' }, { type: 'audio', data, mimeType: 'audio/wav' }] })), []);
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'resource', resource: { uri: 'file:///k', blob: data } }] })), []);
    assert.deepEqual(secretsInReply(result({ content: [{ type: 'text', text: 'read 3 files from /reports' }], isError: false })), []);
    assert.deepEqual(secretsInReply(result({ content: 'not a list', structuredContent: undefined })), []);
  });

  it('withholds a reply for any kind found by format, never for a high-entropy token alone', () => {
    assert.equal(withholds('github_token'), true);
    assert.equal(withholds('secret_field'), true);
    assert.equal(withholds('high_entropy'), false);
  });
});
