// Mandate scope: a set of actions on servers. `<server>/<tool>` calls one tool;
// `<server>/prompt:<name>` gets one prompt and `<server>/prompt:*` any prompt;
// `<server>/resource:*` reads the server's resources; `<server>/*` stands for all of
// that server. On an HTTP API server, `<server>/<METHOD>:<path pattern>` names the
// requests it may make through /proxy (catalog/http-routes.ts). As an OAuth scope it
// is the space-separated list.
import { badRequest } from '../errors.ts';
import { isHttpAction } from '../catalog/http-routes.ts';
import { SERVER_NAME, TOOL_NAME } from '../catalog/servers.ts';

export interface ScopeItem {
  server: string;
  /** A tool name, `prompt:<name>`, `prompt:*`, `resource:*`, or `*` for all of the server. */
  tool: string;
}

const validAction = (action: string): boolean => action === '*' || TOOL_NAME.test(action) || action === 'resource:*'
  || (action.startsWith('prompt:') && (action === 'prompt:*' || TOOL_NAME.test(action.slice('prompt:'.length)))) || isHttpAction(action);

export function parseScopeItem(value: string): ScopeItem {
  const slash = value.indexOf('/');
  const server = value.slice(0, slash);
  const tool = value.slice(slash + 1);
  if (slash === -1 || !SERVER_NAME.test(server) || !validAction(tool)) {
    throw badRequest('invalid_scope', `"${value}" is not an action: use <server>/<tool>, <server>/prompt:<name>, <server>/prompt:*, <server>/resource:*, <server>/<METHOD>:<path> or <server>/*`);
  }
  return { server, tool };
}

/** Parses, de-duplicates and orders a list of actions; a `<server>/*` absorbs that server's single tools. */
export function normalizeScope(values: readonly string[]): string[] {
  const items = values.map(parseScopeItem);
  const wildcards = new Set(items.filter((i) => i.tool === '*').map((i) => i.server));
  const result = new Set<string>();
  for (const item of items) {
    if (item.tool !== '*' && wildcards.has(item.server)) continue;
    if (item.tool.startsWith('prompt:') && item.tool !== 'prompt:*' && items.some((i) => i.server === item.server && i.tool === 'prompt:*')) continue;
    result.add(`${item.server}/${item.tool}`);
  }
  return [...result].sort();
}

export const scopeToString = (scope: readonly string[]): string => scope.join(' ');

/** Splits an OAuth `scope` parameter (RFC 6749 §3.3: space-delimited). */
export function scopeFromString(value: string): string[] {
  return value.split(' ').filter((v) => v.length > 0);
}

/** Whether `action` is covered by `scope` (by itself, its server's `*`, or `prompt:*` for a prompt). */
export function covers(scope: readonly string[], action: string): boolean {
  if (scope.includes(action)) return true;
  const { server, tool } = parseScopeItem(action);
  if (tool.startsWith('prompt:') && scope.includes(`${server}/prompt:*`)) return true;
  return scope.includes(`${server}/*`);
}

/** The actions of `requested` that `granted` does not cover. */
export const notCovered = (granted: readonly string[], requested: readonly string[]): string[] => requested.filter((a) => !covers(granted, a));

export const serversOf = (scope: readonly string[]): string[] => [...new Set(scope.map((a) => parseScopeItem(a).server))];
