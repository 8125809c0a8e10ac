import { optional, positional, required } from '../args.ts';
import type { Command } from '../context.ts';

export const adminCommands: Command[] = [
  {
    words: ['keys', 'list'], usage: 'mandate keys list', summary: 'token-signing keys and their states',
    run: async (_parsed, { api, out }) => out.table('keys', (await (await api()).request<{ keys: Array<Record<string, unknown>> }>('GET', '/api/v1/keys')).keys, ['kid', 'state', 'created_at', 'retire_after']),
  },
  {
    words: ['keys', 'rotate'], usage: 'mandate keys rotate', summary: 'start signing with the pre-published key; publish a new next key',
    run: async (_parsed, { api, out }) => out.record(await (await api()).request('POST', '/api/v1/keys/rotate')),
  },
  {
    words: ['idp', 'add'], usage: 'mandate idp add <name> --issuer URL --audience AUD --jwks-uri URL [--subject-claim sub]',
    summary: 'trust an external OIDC issuer\'s tokens as person tokens',
    options: { issuer: { type: 'string' }, audience: { type: 'string' }, 'jwks-uri': { type: 'string' }, 'subject-claim': { type: 'string' } },
    run: async (parsed, { api, out }) => out.record(await (await api()).request('POST', '/api/v1/identity-providers', {
      name: positional(parsed, 0, 'the provider name'), issuer: required(parsed, 'issuer'), audience: required(parsed, 'audience'),
      jwks_uri: required(parsed, 'jwks-uri'), subject_claim: optional(parsed, 'subject-claim'),
    })),
  },
  {
    words: ['idp', 'list'], usage: 'mandate idp list', summary: 'trusted OIDC issuers',
    run: async (_parsed, { api, out }) => out.table('identity_providers', (await (await api()).request<{ identity_providers: Array<Record<string, unknown>> }>('GET', '/api/v1/identity-providers')).identity_providers, ['name', 'issuer', 'audience', 'subject_claim']),
  },
  {
    words: ['idp', 'remove'], usage: 'mandate idp remove <name>', summary: 'stop trusting an OIDC issuer',
    run: async (parsed, { api, out }) => out.record(await (await api()).request('DELETE', `/api/v1/identity-providers/${encodeURIComponent(positional(parsed, 0, 'the provider name'))}`)),
  },
];
