// An MCP SDK client that reaches a Mandate gateway resource as an agent: every HTTP
// request carries the task token and a fresh DPoP proof bound to it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { dpopProof, type AgentKey } from './agent-key.ts';

export interface ConnectOptions {
  /** What the client declares it can do (elicitation, sampling, roots). */
  capabilities?: ClientCapabilities;
  /** Called before connecting: where handlers for server requests (elicitation, say) are set. */
  prepare?: (client: Client) => void;
}

export async function connectToGateway(resource: string, taskToken: string, key: AgentKey, name = 'mandate-cli', options: ConnectOptions = {}): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('authorization', `DPoP ${taskToken}`);
      headers.set('dpop', dpopProof(key, init?.method ?? 'GET', resource, taskToken));
      return fetch(input, { ...init, headers });
    },
  });
  const client = new Client({ name, version: '1.0.0' }, options.capabilities ? { capabilities: options.capabilities } : {});
  options.prepare?.(client);
  await client.connect(transport);
  return client;
}
