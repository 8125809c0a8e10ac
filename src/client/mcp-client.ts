// An MCP SDK client that reaches a Mandate gateway resource as an agent: every HTTP
// request carries the task token and a fresh DPoP proof bound to it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { dpopProof, type AgentKey } from './agent-key.ts';

export async function connectToGateway(resource: string, taskToken: string, key: AgentKey, name = 'mandate-cli'): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `DPoP ${taskToken}`);
      headers.set('dpop', dpopProof(key, init?.method ?? 'GET', resource, taskToken));
      return fetch(input, { ...init, headers });
    },
  });
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  return client;
}
