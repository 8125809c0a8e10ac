// The gateway's side toward an upstream MCP server: a child process over stdio
// (one per downstream session, so sessions never mix) or a streamable HTTP endpoint.
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Upstream } from '../store/types.ts';

export function openUpstream(upstream: Upstream, onStderr: (line: string) => void): Transport {
  if (upstream.transport === 'http') return new StreamableHTTPClientTransport(new URL(upstream.url));
  const transport = new StdioClientTransport({ command: upstream.command, args: upstream.args, stderr: 'pipe' });
  transport.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) onStderr(line);
  });
  return transport;
}
