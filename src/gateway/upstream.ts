// The gateway's side toward an upstream MCP server: a child process over stdio (one
// per agent session, so sessions never mix) or a streamable HTTP endpoint. The
// server's credentials, when it has any, are injected here — headers on every HTTP
// request, variables in the process's environment — and a guard keeps what the
// upstream sends back from carrying them on (credential-guard.ts).
import { NO_INJECTION, type UpstreamInjection } from '../credentials/lease.ts';
import type { Upstream } from '../store/types.ts';
import { guardReplies } from './credential-guard.ts';
import { HttpUpstream } from './http-upstream.ts';
import { StdioUpstream, type SupervisionOptions } from './stdio-upstream.ts';
import type { JsonRpcMessage, RequestId } from './streamable-http.ts';

export interface CloseOptions {
  now?: boolean;
}

/** One session's connection to its upstream server. */
export interface UpstreamConnection {
  start(): Promise<void>;
  /** Sends one message; rejects when the upstream cannot take it. */
  send(message: JsonRpcMessage): Promise<void>;
  /**
   * Ends the connection. `now`: the authority it ran with has ended, so a process is
   * stopped at once (SIGTERM, then SIGKILL after the grace period) rather than given
   * time to finish on its own.
   */
  close(options?: CloseOptions): Promise<void>;
  /** A message from the upstream, with the client request it belongs to when the transport says so. */
  onmessage?: (message: JsonRpcMessage, relatedRequestId?: RequestId) => void;
  /** The connection has ended for good. */
  onclose?: () => void;
}

export function openUpstream(name: string, upstream: Upstream, supervision: Partial<SupervisionOptions> = {}, injection: UpstreamInjection = NO_INJECTION): UpstreamConnection {
  if (upstream.transport === 'http-api') throw new Error(`${name} is an HTTP API, not an MCP server: it is reached through /proxy/${name}`);
  const connection = upstream.transport === 'http'
    ? new HttpUpstream(new URL(upstream.url), name, injection.headers)
    : new StdioUpstream({ command: upstream.command, args: upstream.args, env: injection.env }, name, { ...supervision, ...(injection.guard.empty ? {} : { scrub: (line: string) => injection.guard.scrub(line) }) });
  return injection.guard.empty ? connection : guardReplies(connection, name, injection.guard, supervision.log);
}
