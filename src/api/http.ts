// The HTTP plumbing shared by every endpoint: routing, bounded body reading, and the
// two error dialects — OAuth error bodies at /oauth/* and problem+json (RFC 9457)
// everywhere else. A handler returns a Reply or throws a MandateError; anything else
// thrown is answered as a generic 500 and logged without request data.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MandateError, badRequest } from '../errors.ts';

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** `json` (default), `text` (body is a string) or `bytes` (body is a Uint8Array, sent as it is). */
  type?: 'json' | 'text' | 'bytes';
  contentType?: string;
}

export type ErrorStyle = 'oauth' | 'problem';

export interface RequestContext {
  req: IncomingMessage;
  url: URL;
  params: Record<string, string>;
  now: number;
}

interface RouteBase {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS';
  path: string;
  errorStyle: ErrorStyle;
}

/** A route answers with a Reply, or — for streaming endpoints (the MCP gateway) — writes the response itself. */
export type RouteDef = RouteBase & (
  | { handle: (ctx: RequestContext) => Promise<Reply>; stream?: undefined }
  | { stream: (ctx: RequestContext, res: ServerResponse) => Promise<void>; handle?: undefined }
);

type CompiledRoute = RouteDef & {
  pattern: RegExp;
  names: string[];
};

export const MAX_BODY_BYTES = 64 * 1024;

export function compile(route: RouteDef): CompiledRoute {
  const names: string[] = [];
  // `{name}` is one path segment; `{name*}` (last) is the rest of the path, slashes and all.
  const source = route.path.replace(/[.+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)(\*?)\}/g, (_m, name: string, rest: string) => {
    names.push(name);
    return rest ? '(.+)' : '([^/]+)';
  });
  return { ...route, pattern: new RegExp(`^${source}$`), names };
}

export function match(routes: CompiledRoute[], method: string, path: string): { route: CompiledRoute; params: Record<string, string> } | { allowed: string[] } | null {
  const allowed: string[] = [];
  for (const route of routes) {
    const found = route.pattern.exec(path);
    if (!found) continue;
    if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
      allowed.push(route.method);
      continue;
    }
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => {
      params[name] = decodeURIComponent(found[i + 1] as string);
    });
    return { route, params };
  }
  return allowed.length > 0 ? { allowed } : null;
}

export async function readBody(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new MandateError('body_too_large', `the request body is larger than ${maxBytes} bytes`, { status: 413 });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new MandateError('body_too_large', `the request body is larger than ${maxBytes} bytes`, { status: 413 });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const mediaType = (req: IncomingMessage): string => (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

export async function readJson(req: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<unknown> {
  const body = await readBody(req, maxBytes);
  if (body.length === 0) return {};
  if (mediaType(req) !== 'application/json') throw new MandateError('unsupported_media_type', 'send the body as application/json', { status: 415 });
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw badRequest('invalid_json', 'the request body is not valid JSON');
  }
}

export async function readForm(req: IncomingMessage, style: ErrorStyle): Promise<URLSearchParams> {
  const body = await readBody(req);
  if (mediaType(req) !== 'application/x-www-form-urlencoded') {
    const error = badRequest('unsupported_media_type', 'send the parameters as application/x-www-form-urlencoded');
    throw style === 'oauth' ? error.asOAuth('invalid_request') : error;
  }
  return new URLSearchParams(body.toString('utf8'));
}

export function problemBody(error: MandateError, instance: string): Record<string, unknown> {
  return { ...error.extensions, type: `urn:mandate:error:${error.code}`, title: error.code.replace(/_/g, ' '), status: error.status, detail: error.message, code: error.code, instance };
}

export function oauthBody(error: MandateError): Record<string, unknown> {
  return { error: error.oauthError ?? 'invalid_request', error_description: error.message, mandate_error: error.code };
}

export function send(res: ServerResponse, reply: Reply): void {
  const status = reply.status ?? 200;
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...reply.headers };
  if (reply.body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = reply.type === 'bytes' ? (reply.body as Uint8Array) : reply.type === 'text' ? String(reply.body) : JSON.stringify(reply.body);
  headers['content-type'] = reply.contentType ?? (reply.type === 'bytes' ? 'application/octet-stream' : reply.type === 'text' ? 'text/plain; charset=utf-8' : 'application/json');
  res.writeHead(status, headers).end(text);
}

export function errorReply(error: unknown, style: ErrorStyle, instance: string): Reply {
  const known = error instanceof MandateError ? error : new MandateError('internal_error', 'the server could not complete the request', { status: 500, oauthError: 'server_error' });
  if (style === 'oauth') {
    const headers: Record<string, string> = {};
    if (known.status === 401) headers['www-authenticate'] = 'Bearer error="invalid_client"';
    return { status: known.status, body: oauthBody(known), headers };
  }
  const headers: Record<string, string> = {};
  // The description may quote request data (a token's typ, say): keep it to printable ASCII, or the header is refused.
  if (known.status === 401) headers['www-authenticate'] = `Bearer error="invalid_token", error_description="${known.message.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, '?')}"`;
  return { status: known.status, body: problemBody(known, instance), headers, contentType: 'application/problem+json' };
}
