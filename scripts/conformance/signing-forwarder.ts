// The agent's side of the gateway protocol for a client that does not speak it: a
// local HTTP endpoint that relays each request to one gateway resource, adding the
// agent's DPoP-bound task token and a fresh DPoP proof — what the agent SDK does in
// src/client/mcp-client.ts — and streams both bodies unchanged (event streams too).
// The task token is exchanged again before it expires.
//
// It signs with the agent's key for whoever reaches it, so it listens on loopback only
// and refuses a Host or Origin that is not loopback: a web page that had its own
// name resolve to 127.0.0.1 (DNS rebinding) must not get requests signed.
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dpopProof, type AgentKey } from '../../src/client/agent-key.ts';
import { exchangeForTaskToken } from '../../src/client/task-token.ts';

/** A task token is exchanged again when this much of its life is left, or half of it for a shorter-lived one (they live 5 minutes at most). */
const REFRESH_MARGIN_MS = 60_000;

/** The agent's task tokens for one resource, exchanged from its mandate token as they near expiry. */
export class TaskTokens {
  readonly #issuer: string;
  readonly #resource: string;
  readonly #mandateToken: string;
  readonly #key: AgentKey;
  #current: { token: string; refreshAt: number } | null = null;
  #exchanging: Promise<string> | null = null;

  constructor(issuer: string, resource: string, mandateToken: string, key: AgentKey) {
    this.#issuer = issuer;
    this.#resource = resource;
    this.#mandateToken = mandateToken;
    this.#key = key;
  }

  /** A task token far enough from its expiry (one exchange at a time). */
  get(): Promise<string> {
    if (this.#current && Date.now() < this.#current.refreshAt) return Promise.resolve(this.#current.token);
    this.#exchanging ??= this.#exchange().finally(() => {
      this.#exchanging = null;
    });
    return this.#exchanging;
  }

  async #exchange(): Promise<string> {
    const { accessToken, expiresIn } = await exchangeForTaskToken(`${this.#issuer}/oauth/token`, this.#mandateToken, this.#key, this.#resource);
    const lifetime = expiresIn * 1000;
    this.#current = { token: accessToken, refreshAt: Date.now() + lifetime - Math.min(REFRESH_MARGIN_MS, lifetime / 2) };
    return accessToken;
  }
}

export interface SigningForwarder {
  /** Where the client connects: `http://127.0.0.1:<port>/mcp`. */
  url: string;
  close: () => Promise<void>;
}

/** Headers that describe one connection, not the message: never relayed. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** The client's credentials, if it sent any, are not the agent's: replaced. */
const REPLACED = new Set(['host', 'authorization', 'dpop']);

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function loopbackName(value: string): boolean {
  try {
    return LOOPBACK.has(new URL(value).hostname.toLowerCase());
  } catch {
    return false;
  }
}

/** Host names this machine, and so does Origin when a browser sent one. */
const fromLoopback = (headers: IncomingHttpHeaders): boolean =>
  loopbackName(`http://${headers.host ?? ''}`) && (headers.origin === undefined || loopbackName(headers.origin));

function relayedHeaders(headers: IncomingHttpHeaders, drop: Set<string>): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined && !HOP_BY_HOP.has(name) && !drop.has(name)) kept[name] = value;
  return kept;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

/** Starts a forwarder for the gateway resource `resource` (e.g. `http://127.0.0.1:8780/mcp/fs`), signing as the agent `key`. */
export async function startSigningForwarder(resource: string, key: AgentKey, tokens: TaskTokens): Promise<SigningForwarder> {
  const target = new URL(resource);
  const agent = new Agent({ keepAlive: true });

  const relay = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!fromLoopback(req.headers)) return refuse(res, 403, 'Forbidden: this forwarder signs for local clients only (Host and Origin must be loopback)');
    if (new URL(req.url ?? '/', 'http://forwarder').pathname !== '/mcp') return refuse(res, 404, 'Not Found: the MCP endpoint is /mcp');
    const method = req.method ?? 'GET';
    let token: string;
    try {
      token = await tokens.get();
    } catch (error) {
      return refuse(res, 502, `no task token: ${(error as Error).message}`);
    }
    const outgoing = request(target, {
      method, agent,
      headers: { ...relayedHeaders(req.headers, REPLACED), authorization: `DPoP ${token}`, dpop: dpopProof(key, method, resource, token) },
    });
    outgoing.once('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, relayedHeaders(answer.headers, new Set()));
      // Event streams must reach the client as they come, not when the answer ends.
      res.flushHeaders();
      answer.pipe(res);
      answer.once('error', () => res.destroy());
    });
    outgoing.once('error', (error) => refuse(res, 502, `the gateway could not be reached: ${error.message}`));
    // A client that goes away (an abandoned stream, a cancelled request) ends the gateway's side too.
    res.once('close', () => {
      if (!res.writableFinished) outgoing.destroy();
    });
    req.pipe(outgoing);
  };

  const server = createServer((req, res) => void relay(req, res).catch((error: Error) => refuse(res, 500, error.message)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      agent.destroy();
      server.close(() => resolve());
    }),
  };
}
