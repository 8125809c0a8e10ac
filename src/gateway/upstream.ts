// The gateway's side toward an upstream MCP server: a child process over stdio (one
// per agent session, so sessions never mix) or a streamable HTTP endpoint.
import type { Upstream } from '../store/types.ts';
import { HttpUpstream } from './http-upstream.ts';
import { StdioUpstream, type SupervisionOptions } from './stdio-upstream.ts';
import type { JsonRpcMessage, RequestId } from './streamable-http.ts';

/** One session's connection to its upstream server. */
export interface UpstreamConnection {
  start(): Promise<void>;
  /** Sends one message; rejects when the upstream cannot take it. */
  send(message: JsonRpcMessage): Promise<void>;
  close(): Promise<void>;
  /** A message from the upstream, with the client request it belongs to when the transport says so. */
  onmessage?: (message: JsonRpcMessage, relatedRequestId?: RequestId) => void;
  /** The connection has ended for good. */
  onclose?: () => void;
}

export function openUpstream(name: string, upstream: Upstream, supervision: Partial<SupervisionOptions> = {}): UpstreamConnection {
  if (upstream.transport === 'http') return new HttpUpstream(new URL(upstream.url), name);
  return new StdioUpstream({ command: upstream.command, args: upstream.args }, name, supervision);
}
