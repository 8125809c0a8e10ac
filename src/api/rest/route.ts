// A control-plane route is declared once — method, path, who may call, the zod
// schema of its body, the schema of its answer — and that one declaration both
// validates requests and produces the OpenAPI document.
import type { z } from 'zod';
import type { App } from '../../app.ts';
import { badRequest } from '../../errors.ts';
import type { Caller } from '../../identity/caller.ts';
import { requireAdmin } from '../../identity/caller.ts';
import { authenticateRequest } from '../authenticate.ts';
import { readJson, type Reply, type RequestContext, type RouteDef } from '../http.ts';

export type Access = 'admin' | 'authenticated' | 'public';

export interface ApiRoute<B extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  summary: string;
  tag: string;
  access: Access;
  body?: B;
  /** Largest body accepted (default MAX_BODY_BYTES, 64 KiB). */
  maxBodyBytes?: number;
  response: z.ZodType;
  status?: number;
  /** Around the whole exchange, errors included: for a binding with transport rules of its own (AuthZEN's X-Request-ID). */
  around?: (ctx: RequestContext, serve: () => Promise<Reply>) => Promise<Reply>;
  handle: (input: { app: App; caller: Caller | null; body: z.output<B>; params: Record<string, string>; query: URLSearchParams; now: number }) => Promise<unknown>;
}

export const route = <B extends z.ZodType>(r: ApiRoute<B>): ApiRoute => r as unknown as ApiRoute;

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`).join('; ');
}

export function toRouteDef(app: App, r: ApiRoute): RouteDef {
  const served: RouteDef & { handle: (ctx: RequestContext) => Promise<Reply> } = {
    method: r.method,
    path: r.path,
    errorStyle: 'problem',
    handle: async ({ req, url, params, now }): Promise<Reply> => {
      const caller = r.access === 'public' ? null : await authenticateRequest(app, req, now);
      if (r.access === 'admin' && caller) requireAdmin(caller);
      let body: unknown = undefined;
      if (r.body) {
        const parsed = r.body.safeParse(await readJson(req, r.maxBodyBytes));
        if (!parsed.success) throw badRequest('invalid_body', describeIssues(parsed.error));
        body = parsed.data;
      }
      const result = await r.handle({ app, caller, body, params, query: url.searchParams, now });
      return { status: r.status ?? 200, body: result };
    },
  };
  const { around } = r;
  return around ? { ...served, handle: (ctx) => around(ctx, () => served.handle(ctx)) } : served;
}
