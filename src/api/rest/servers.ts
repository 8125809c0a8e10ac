import { z } from 'zod';
import { endpoints } from '../../config.ts';
import { ServerView, serverView } from './schemas.ts';
import { route } from './route.ts';
import type { Server, Upstream } from '../../store/types.ts';

const tag = 'servers';

/** The resource a server's task tokens are for: the MCP gateway's, or the HTTP proxy's for an HTTP API. */
const resourceOf = (publicUrl: string, server: Server): string =>
  (server.upstream.transport === 'http-api' ? endpoints(publicUrl).proxyResource(server.name) : endpoints(publicUrl).mcpResource(server.name));
const labels = {
  sensitivity: z.enum(['public', 'internal', 'confidential', 'secret']).optional(),
  effect: z.enum(['read', 'write', 'destructive']).optional(),
  egress: z.enum(['internal', 'external']).optional(),
};

export const serverRoutes = [
  route({
    method: 'POST', path: '/api/v1/servers', tag, access: 'admin', status: 201,
    summary: 'Register an upstream MCP server (stdio command or streamable HTTP URL) and label its tools',
    body: z.strictObject({
      name: z.string().min(1).max(63),
      url: z.string().max(2000).optional(),
      kind: z.enum(['mcp', 'http-api']).optional().describe('mcp (default): an MCP server at url or command; http-api: a plain HTTP API at url, called through /proxy/<name>/…'),
      command: z.string().max(2000).optional(),
      args: z.array(z.string().max(2000)).max(100).optional(),
      environment: z.enum(['dev', 'staging', 'prod']).optional().describe('only agents of this environment may use the server (default: any)'),
      lease: z.strictObject({
        provider: z.literal('postgres'),
        env: z.string().min(1).max(128).optional().describe('the variable that receives the lease URL (default: the libpq variables PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE)'),
      }).optional().describe('a stdio server whose sessions each get the mandate\'s PostgreSQL role (one per mandate) in the environment of their process; needs MANDATE_PG_ADMIN_URL'),
      tools: z.array(z.strictObject({ name: z.string().min(1).max(128), ...labels })).max(1000).optional(),
    }).refine((b) => (b.url === undefined) !== (b.command === undefined), { message: 'give exactly one of url and command' })
      .refine((b) => b.kind !== 'http-api' || b.url !== undefined, { message: 'an HTTP API is reached at a url' })
      .refine((b) => b.lease === undefined || b.command !== undefined, { message: 'a lease is given to a stdio server (command), in its environment' }),
    response: ServerView,
    handle: async ({ app, body, now }) => {
      const upstream: Upstream = body.url !== undefined ? { transport: body.kind === 'http-api' ? 'http-api' : 'http', url: body.url } : {
        transport: 'stdio', command: body.command as string, args: body.args ?? [], ...(body.lease ? { lease: { provider: body.lease.provider, env: body.lease.env ?? null } } : {}),
      };
      const { server, tools } = await app.catalog.add({ name: body.name, upstream, environment: body.environment ?? null, tools: body.tools ?? [] }, now);
      return serverView(server, tools, resourceOf(app.config.publicUrl, server));
    },
  }),
  route({
    method: 'GET', path: '/api/v1/servers', tag, access: 'authenticated', summary: 'List upstream servers', response: z.object({ servers: z.array(ServerView) }),
    handle: async ({ app }) => ({
      servers: await Promise.all((await app.catalog.list()).map(async (s) => serverView(s, (await app.catalog.get(s.name)).tools, resourceOf(app.config.publicUrl, s)))),
    }),
  }),
  route({
    method: 'GET', path: '/api/v1/servers/{name}', tag, access: 'authenticated', summary: 'Show one server and its tools', response: ServerView,
    handle: async ({ app, params }) => {
      const { server, tools } = await app.catalog.get(params.name as string);
      return serverView(server, tools, resourceOf(app.config.publicUrl, server));
    },
  }),
];
