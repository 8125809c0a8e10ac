// The routes of the HTTP API proxy: /proxy/<server>[/<path>] for every method it
// relays (HEAD through GET's), answered by the gateway's HttpProxy, and the RFC 9728
// metadata of each proxy resource. Refusals are problem+json; a 401 carries the DPoP
// challenge that points to the resource's metadata.
import type { App } from '../app.ts';
import { MandateError } from '../errors.ts';
import { ProxyRefusal } from '../gateway/http-api/proxy.ts';
import { protectedResourceMetadata } from '../gateway/protected-resource.ts';
import { errorReply, send, type RouteDef } from './http.ts';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/**
 * The path after /proxy/<server>, exactly as the client wrote it: still percent-encoded
 * and with any dot segments (URL parsing would resolve them, and the path decided
 * would not be the path asked for; normalizePath refuses them instead).
 */
function restOf(rawUrl: string | undefined): string {
  const raw = (rawUrl ?? '/').split('?')[0] as string;
  const afterPrefix = raw.startsWith('/proxy/') ? raw.slice('/proxy/'.length) : '';
  const slash = afterPrefix.indexOf('/');
  return slash === -1 ? '' : afterPrefix.slice(slash);
}

export function proxyRoutes(app: App): RouteDef[] {
  const serve: RouteDef['stream'] = async ({ req, url, params, now }, res) => {
    try {
      await app.proxy.handle(req, res, params.server as string, restOf(req.url), url.searchParams, now);
    } catch (error) {
      req.resume();
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!(error instanceof MandateError)) console.error(`mandate: ${req.method} /proxy/${params.server} failed:`, (error as Error)?.stack ?? error);
      const reply = errorReply(error, 'problem', url.pathname);
      if (error instanceof ProxyRefusal && error.challenge !== undefined) reply.headers = { ...reply.headers, 'www-authenticate': error.challenge };
      send(res, reply);
    }
  };
  const routes: RouteDef[] = [];
  for (const method of METHODS) {
    routes.push({ method, path: '/proxy/{server}', errorStyle: 'problem', stream: serve }, { method, path: '/proxy/{server}/{rest*}', errorStyle: 'problem', stream: serve });
  }
  routes.push({
    method: 'GET', path: '/.well-known/oauth-protected-resource/proxy/{server}', errorStyle: 'problem',
    handle: async ({ params }) => {
      const { server } = await app.catalog.get(params.server as string);
      if (server.upstream.transport !== 'http-api') throw new MandateError('not_an_http_api', `${server.name} is an MCP server: its metadata is at /.well-known/oauth-protected-resource/mcp/${server.name}`, { status: 404 });
      return { body: protectedResourceMetadata(app.config.publicUrl, server.name, [], 'proxy'), headers: { 'cache-control': 'public, max-age=300' } };
    },
  });
  return routes;
}
