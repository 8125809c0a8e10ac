import { clientAssertion, dpopProof, readAgentKey } from '../../client/agent-key.ts';
import { parseDuration } from '../../config.ts';
import { MandateError } from '../../errors.ts';
import { CLIENT_ASSERTION_TYPE } from '../../identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from '../../delegation/token-exchange.ts';
import { optional, required } from '../args.ts';
import type { ApiClient } from '../api-client.ts';
import type { Command } from '../context.ts';

/** The servers a mandate token's scope names, read without verifying (the server verifies). */
function serversInMandateToken(token: string): string[] {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { scope?: string };
    return [...new Set((claims.scope ?? '').split(' ').filter(Boolean).map((a) => a.split('/')[0] as string))];
  } catch {
    return [];
  }
}

/** Where this Mandate's token endpoint is (public metadata). */
async function tokenEndpoint(client: ApiClient): Promise<{ issuer: string; token_endpoint: string }> {
  return client.request<{ issuer: string; token_endpoint: string }>('GET', '/.well-known/oauth-authorization-server', undefined, { auth: false });
}

export const tokenCommands: Command[] = [
  {
    words: ['token'], usage: 'mandate token --mandate-token MT --key-file FILE [--server NAME | --resource URL] [--scope "srv/tool ..."]',
    summary: 'RFC 8693 exchange as the agent: prints a DPoP-bound task token (5 min at most)',
    options: { 'mandate-token': { type: 'string' }, 'key-file': { type: 'string' }, server: { type: 'string' }, resource: { type: 'string' }, scope: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const mandateToken = required(parsed, 'mandate-token');
      const key = await readAgentKey(required(parsed, 'key-file'));
      const client = await api();
      const metadata = await tokenEndpoint(client);
      let resource = optional(parsed, 'resource');
      if (resource === undefined) {
        const servers = optional(parsed, 'server') !== undefined ? [optional(parsed, 'server') as string] : serversInMandateToken(mandateToken);
        if (servers.length !== 1) throw new MandateError('usage', 'the mandate covers several servers: choose one with --server NAME');
        // An HTTP API's resource is its proxy's: its protected-resource metadata is there (public).
        const proxied = await client.request('GET', `/.well-known/oauth-protected-resource/proxy/${encodeURIComponent(servers[0] as string)}`, undefined, { auth: false }).then(() => true, () => false);
        resource = `${metadata.issuer}/${proxied ? 'proxy' : 'mcp'}/${servers[0]}`;
      }
      const params: Record<string, string> = {
        grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
        subject_token: mandateToken,
        subject_token_type: TOKEN_TYPE_JWT,
        requested_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        resource,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: clientAssertion(key, metadata.token_endpoint),
      };
      const scope = optional(parsed, 'scope');
      if (scope !== undefined) params.scope = scope;
      const answer = await client.form<{ access_token: string; expires_in: number; scope: string; token_type: string }>(metadata.token_endpoint, params, { dpop: dpopProof(key, 'POST', metadata.token_endpoint) });
      if (out.json) out.record({ ...answer, resource });
      else process.stdout.write(`${answer.access_token}\n`);
    },
  },
  {
    words: ['delegate'],
    usage: 'mandate delegate --task-token TT --key-file FILE (--actor-key-file FILE | --actor-token JWT) [--scope "srv/tool ..."] [--ttl 5m] [--max-calls N] [--purpose TEXT]',
    summary: 'as the agent holding TT, sub-delegate to another agent (RFC 8693 with actor_token): prints the child mandate token for that agent',
    options: {
      'task-token': { type: 'string' }, 'key-file': { type: 'string' }, 'actor-key-file': { type: 'string' }, 'actor-token': { type: 'string' },
      scope: { type: 'string' }, ttl: { type: 'string' }, 'max-calls': { type: 'string' }, purpose: { type: 'string' },
    },
    run: async (parsed, { api, out }) => {
      const key = await readAgentKey(required(parsed, 'key-file'));
      const actorKeyFile = optional(parsed, 'actor-key-file');
      const given = optional(parsed, 'actor-token');
      if ((actorKeyFile === undefined) === (given === undefined)) throw new MandateError('usage', 'give the sub-agent as --actor-key-file FILE or --actor-token JWT (its own signed assertion), one of them');
      const maxCalls = optional(parsed, 'max-calls');
      if (maxCalls !== undefined && !/^[1-9]\d*$/.test(maxCalls)) throw new MandateError('usage', '--max-calls must be a positive whole number');
      const ttl = optional(parsed, 'ttl');
      const client = await api();
      const metadata = await tokenEndpoint(client);
      // The sub-agent's consent and identity: an assertion signed with its own key.
      const actorToken = given ?? clientAssertion(await readAgentKey(actorKeyFile as string), metadata.token_endpoint);
      const params: Record<string, string> = {
        grant_type: GRANT_TYPE_TOKEN_EXCHANGE,
        subject_token: required(parsed, 'task-token'),
        subject_token_type: TOKEN_TYPE_ACCESS_TOKEN,
        actor_token: actorToken,
        actor_token_type: TOKEN_TYPE_JWT,
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: clientAssertion(key, metadata.token_endpoint),
      };
      const scope = optional(parsed, 'scope');
      if (scope !== undefined) params.scope = scope;
      if (ttl !== undefined) params.requested_ttl = String(parseDuration(ttl));
      if (maxCalls !== undefined) params.max_calls = maxCalls;
      const purpose = optional(parsed, 'purpose');
      if (purpose !== undefined) params.purpose = purpose;
      const answer = await client.form<{ access_token: string; expires_in: number; scope: string; mandate_id: string }>(metadata.token_endpoint, params, { dpop: dpopProof(key, 'POST', metadata.token_endpoint) });
      if (out.json) out.record(answer);
      else process.stdout.write(`${answer.access_token}\n`);
    },
  },
];
