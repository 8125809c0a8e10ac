import { clientAssertion, dpopProof, readAgentKey } from '../../client/agent-key.ts';
import { MandateError } from '../../errors.ts';
import { CLIENT_ASSERTION_TYPE } from '../../identity/client-auth.ts';
import { GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TOKEN_TYPE_JWT } from '../../delegation/token-exchange.ts';
import { optional, required } from '../args.ts';
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

export const tokenCommands: Command[] = [
  {
    words: ['token'], usage: 'mandate token --mandate-token MT --key-file FILE [--server NAME | --resource URL] [--scope "srv/tool ..."]',
    summary: 'RFC 8693 exchange as the agent: prints a DPoP-bound task token (5 min at most)',
    options: { 'mandate-token': { type: 'string' }, 'key-file': { type: 'string' }, server: { type: 'string' }, resource: { type: 'string' }, scope: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const mandateToken = required(parsed, 'mandate-token');
      const key = await readAgentKey(required(parsed, 'key-file'));
      const client = await api();
      const metadata = await client.request<{ issuer: string; token_endpoint: string }>('GET', '/.well-known/oauth-authorization-server', undefined, { auth: false });
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
];
