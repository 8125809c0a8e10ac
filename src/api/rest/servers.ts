import { z } from 'zod';
import { endpoints } from '../../config.ts';
import { ServerView, serverView } from './schemas.ts';
import { route } from './route.ts';

const tag = 'servers';
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
      command: z.string().max(2000).optional(),
      args: z.array(z.string().max(2000)).max(100).optional(),
      environment: z.enum(['dev', 'staging', 'prod']).optional().describe('only agents of this environment may use the server (default: any)'),
      tools: z.array(z.strictObject({ name: z.string().min(1).max(128), ...labels })).max(1000).optional(),
    }).refine((b) => (b.url === undefined) !== (b.command === undefined), { message: 'give exactly one of url and command' }),
    response: ServerView,
    handle: async ({ app, body, now }) => {
      const upstream = body.url !== undefined ? { transport: 'http' as const, url: body.url } : { transport: 'stdio' as const, command: body.command as string, args: body.args ?? [] };
      const { server, tools } = await app.catalog.add({ name: body.name, upstream, environment: body.environment ?? null, tools: body.tools ?? [] }, now);
      return serverView(server, tools, endpoints(app.config.publicUrl).mcpResource(server.name));
    },
  }),
  route({
    method: 'GET', path: '/api/v1/servers', tag, access: 'authenticated', summary: 'List upstream servers', response: z.object({ servers: z.array(ServerView) }),
    handle: async ({ app }) => ({
      servers: await Promise.all((await app.catalog.list()).map(async (s) => serverView(s, (await app.catalog.get(s.name)).tools, endpoints(app.config.publicUrl).mcpResource(s.name)))),
    }),
  }),
  route({
    method: 'GET', path: '/api/v1/servers/{name}', tag, access: 'authenticated', summary: 'Show one server and its tools', response: ServerView,
    handle: async ({ app, params }) => {
      const { server, tools } = await app.catalog.get(params.name as string);
      return serverView(server, tools, endpoints(app.config.publicUrl).mcpResource(server.name));
    },
  }),
];
