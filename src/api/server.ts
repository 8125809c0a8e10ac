// One HTTP server for everything Mandate answers: OAuth, discovery, the control
// plane, health and metrics.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../app.ts';
import { MandateError } from '../errors.ts';
import { nowSeconds } from '../lib/clock.ts';
import { compile, errorReply, match, send, type RouteDef } from './http.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { approvalPageRoutes } from './approval-page.ts';
import { authzenRoutes } from './authzen.ts';
import { ledgerRoutes } from './ledger.ts';
import { oauthRoutes } from './oauth.ts';
import { openApiDocument } from './openapi.ts';
import { agentRoutes } from './rest/agents.ts';
import { approvalRoutes } from './rest/approvals.ts';
import { groupRoutes } from './rest/groups.ts';
import { auditRoutes } from './rest/audit.ts';
import { credentialRoutes } from './rest/credentials.ts';
import { proxyRoutes } from './proxy.ts';
import { identityProviderRoutes } from './rest/identity-providers.ts';
import { keyRoutes } from './rest/keys.ts';
import { mandateRoutes } from './rest/mandates.ts';
import { peopleRoutes } from './rest/people.ts';
import { policyRoutes } from './rest/policies.ts';
import type { ApiRoute } from './rest/route.ts';
import { toRouteDef } from './rest/route.ts';
import { serverRoutes } from './rest/servers.ts';
import { VERSION } from '../version.ts';
import { protectedResourceMetadata } from '../gateway/protected-resource.ts';

export const API_ROUTES: readonly ApiRoute[] = [...peopleRoutes, ...agentRoutes, ...serverRoutes, ...mandateRoutes, ...keyRoutes, ...identityProviderRoutes, ...auditRoutes, ...policyRoutes, ...authzenRoutes, ...credentialRoutes, ...groupRoutes, ...approvalRoutes];

function operationalRoutes(app: App, metrics: Metrics): RouteDef[] {
  const openapi = openApiDocument(API_ROUTES, app.config.publicUrl, VERSION);
  return [
    { method: 'GET', path: '/healthz', errorStyle: 'problem', handle: async () => ({ body: { status: 'ok' } }) },
    {
      method: 'GET', path: '/readyz', errorStyle: 'problem',
      handle: async ({ now }) => {
        await app.store.ping().catch((error: unknown) => {
          throw new MandateError('store_unavailable', `the store does not answer: ${(error as Error).message}`, { status: 503 });
        });
        if (app.keys.jwks(now).keys.length === 0) throw new MandateError('keys_missing', 'no signing keys are loaded', { status: 503 });
        if (app.checkpoints.failure) throw new MandateError('audit_ledger_inconsistent', app.checkpoints.failure, { status: 503 });
        return { body: { status: 'ready', store: app.store.kind, policy_set: app.policy().hash } };
      },
    },
    {
      method: 'GET', path: '/metrics', errorStyle: 'problem',
      handle: async () => ({ body: await metrics.registry.metrics(), type: 'text', contentType: metrics.registry.contentType }),
    },
    { method: 'GET', path: '/api/v1/openapi.json', errorStyle: 'problem', handle: async () => ({ body: openapi }) },
  ];
}

function gatewayRoutes(app: App): RouteDef[] {
  const gateway = (method: RouteDef['method']): RouteDef => ({
    method, path: '/mcp/{server}', errorStyle: 'problem',
    stream: ({ req, url, params, now }, res) => app.gateway.handle(req, res, params.server as string, url.pathname, now),
  });
  return [
    gateway('POST'), gateway('GET'), gateway('DELETE'),
    {
      method: 'POST', path: '/mcp/{server}/preview', errorStyle: 'problem',
      stream: ({ req, url, params, now }, res) => app.gateway.preview(req, res, params.server as string, url.pathname, now),
    },
    {
      method: 'GET', path: '/.well-known/oauth-protected-resource/mcp/{server}', errorStyle: 'problem',
      handle: async ({ params }) => {
        const { tools } = await app.catalog.get(params.server as string);
        return { body: protectedResourceMetadata(app.config.publicUrl, params.server as string, tools.map((t) => t.name)), headers: { 'cache-control': 'public, max-age=300' } };
      },
    },
  ];
}

export interface RunningServer {
  server: Server;
  url: string;
  close: () => Promise<void>;
}

export function createHttpServer(app: App): Server {
  const metrics = createMetrics();
  const routes = [...oauthRoutes(app, metrics), ...operationalRoutes(app, metrics), ...ledgerRoutes(app), ...gatewayRoutes(app), ...proxyRoutes(app), ...approvalPageRoutes(app), ...API_ROUTES.map((r) => toRouteDef(app, r))].map(compile);
  return createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    const started = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://mandate.invalid');
    } catch {
      send(res, errorReply(new MandateError('invalid_url', 'the request URL is not valid'), 'problem', '/'));
      return;
    }
    let found: ReturnType<typeof match>;
    try {
      found = match(routes, req.method ?? 'GET', url.pathname);
    } catch {
      send(res, errorReply(new MandateError('invalid_url', 'the request path is not valid'), 'problem', url.pathname));
      return;
    }
    if (found === null || 'allowed' in found) {
      const error = found === null
        ? new MandateError('not_found', `nothing at ${url.pathname}`, { status: 404 })
        : new MandateError('method_not_allowed', `${req.method} is not allowed here (allowed: ${found.allowed.join(', ')})`, { status: 405 });
      const reply = errorReply(error, 'problem', url.pathname);
      if (found !== null) reply.headers = { ...reply.headers, allow: found.allowed.join(', ') };
      send(res, reply);
      req.resume();
      return;
    }
    const { route, params } = found;
    if (route.stream) {
      route.stream({ req, url, params, now: nowSeconds() }, res)
        .catch((error: unknown) => {
          if (!(error instanceof MandateError)) console.error(`mandate: ${req.method} ${route.path} failed:`, (error as Error)?.stack ?? error);
          if (!res.headersSent) send(res, errorReply(error, route.errorStyle, url.pathname));
          else res.end();
        })
        .finally(() => metrics.requests.inc({ method: route.method, route: route.path, status: String(res.statusCode) }));
      return;
    }
    route.handle({ req, url, params, now: nowSeconds() })
      .catch((error: unknown) => {
        if (!(error instanceof MandateError)) console.error(`mandate: ${req.method} ${route.path} failed:`, (error as Error)?.stack ?? error);
        return errorReply(error, route.errorStyle, url.pathname);
      })
      .then((reply) => {
        send(res, reply);
        const status = String(reply.status ?? 200);
        metrics.requests.inc({ method: route.method, route: route.path, status });
        metrics.duration.observe({ method: route.method, route: route.path }, (performance.now() - started) / 1000);
      })
      .catch(() => res.destroy());
  });
}

export async function listen(app: App, port = app.config.port, host = app.config.host): Promise<RunningServer> {
  const server = createHttpServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
