// What a mandate names on an HTTP API server: `<METHOD>:<path pattern>` after the
// server, e.g. `api/GET:/repos/*` or `api/*:/status`. METHOD is one HTTP method in
// upper case, or `*` for any. The pattern is an absolute path in which a segment `*`
// (or a `*` inside one) stands for any characters within that segment, and a final
// segment `**` for anything below (one or more segments, or an empty one after the
// slash). Patterns are matched against the normalised path (gateway/http-api/path.ts),
// never the query.
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** Path characters a pattern may hold: RFC 3986 pchar (unreserved, %XX, sub-delims but space-free) and "/". */
const PATTERN = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-F]{2})*$/;
const MAX_PATTERN = 512;

export interface HttpRoute {
  method: HttpMethod | '*';
  pattern: string;
}

/** The route an action names, or null when it is not `<METHOD>:<pattern>`. */
export function parseHttpAction(action: string): HttpRoute | null {
  const colon = action.indexOf(':');
  if (colon === -1) return null;
  const method = action.slice(0, colon);
  const pattern = action.slice(colon + 1);
  if (method !== '*' && !(HTTP_METHODS as readonly string[]).includes(method)) return null;
  if (pattern.length > MAX_PATTERN || !PATTERN.test(pattern) || pattern.includes('//')) return null;
  const segments = pattern.split('/').slice(1);
  // `**` only as the whole last segment; no "." or ".." segments (a normalised path has none).
  if (segments.some((s, i) => (s.includes('**') && (s !== '**' || i !== segments.length - 1)) || s === '.' || s === '..')) return null;
  return { method: method as HttpRoute['method'], pattern };
}

export const isHttpAction = (action: string): boolean => parseHttpAction(action) !== null;

const compiled = new Map<string, RegExp>();

function patternRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) {
    const escape = (text: string): string => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    const source = pattern.endsWith('/**')
      ? `${escape(pattern.slice(0, -3)).replace(/\*/g, '[^/]*')}/.*`
      : escape(pattern).replace(/\*/g, '[^/]*');
    re = new RegExp(`^${source}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

/** Whether a route matches a request's method and normalised path. */
export function routeMatches(route: HttpRoute, method: string, path: string): boolean {
  return (route.method === '*' || route.method === method) && patternRegExp(route.pattern).test(path);
}

/** The entries of `scope` on `server` whose route matches the request. */
export function matchingEntries(scope: readonly string[], server: string, method: string, path: string): string[] {
  const prefix = `${server}/`;
  return scope.filter((entry) => {
    if (!entry.startsWith(prefix)) return false;
    const route = parseHttpAction(entry.slice(prefix.length));
    return route !== null && routeMatches(route, method, path);
  });
}
