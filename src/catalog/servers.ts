// Upstream servers and their tools. Each tool carries labels (sensitivity, effect,
// egress); a tool nobody labelled gets the conservative defaults.
import { parseInjection } from '../credentials/injection.ts';
import { badRequest, notFound } from '../errors.ts';
import { ENVIRONMENTS, type Environment, type Server, type Store, type Tool, type ToolLabels, type Upstream } from '../store/types.ts';

export const DEFAULT_LABELS: ToolLabels = { sensitivity: 'confidential', effect: 'write', egress: 'external' };

const SENSITIVITIES = ['public', 'internal', 'confidential', 'secret'] as const;
const EFFECTS = ['read', 'write', 'destructive'] as const;
const EGRESSES = ['internal', 'external'] as const;
export const SERVER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * Parses `NAME=sensitivity,effect,egress`. Labels are positional (sensitivity and
 * egress share the word `internal`); an empty or missing position keeps its
 * conservative default: `read_file=internal,read` leaves egress external.
 */
export function parseToolSpec(spec: string): { name: string } & ToolLabels {
  const eq = spec.indexOf('=');
  const name = eq === -1 ? spec : spec.slice(0, eq);
  if (!TOOL_NAME.test(name)) throw badRequest('invalid_tool', `"${name}" is not a tool name`);
  const values = eq === -1 ? [] : spec.slice(eq + 1).split(',').map((v) => v.trim());
  if (values.length > 3) throw badRequest('invalid_tool_label', `tool ${name}: give at most three labels, sensitivity,effect,egress`);
  const pick = <T extends string>(value: string | undefined, allowed: readonly T[], fallback: T, what: string): T => {
    if (value === undefined || value === '') return fallback;
    if (!(allowed as readonly string[]).includes(value)) throw badRequest('invalid_tool_label', `tool ${name}: ${what} must be one of ${allowed.join('|')}, not "${value}"`);
    return value as T;
  };
  return {
    name,
    sensitivity: pick(values[0], SENSITIVITIES, DEFAULT_LABELS.sensitivity, 'sensitivity'),
    effect: pick(values[1], EFFECTS, DEFAULT_LABELS.effect, 'effect'),
    egress: pick(values[2], EGRESSES, DEFAULT_LABELS.egress, 'egress'),
  };
}

export interface ServerInput {
  name: string;
  upstream: Upstream;
  environment?: Environment | null;
  tools: Array<{ name: string } & Partial<ToolLabels>>;
}

export class Catalog {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async add(input: ServerInput, now: number): Promise<{ server: Server; tools: Tool[] }> {
    if (!SERVER_NAME.test(input.name)) throw badRequest('invalid_server_name', `server name "${input.name}" must be lower-case letters, digits, "_" or "-" (at most 63)`);
    if (input.upstream.transport === 'http' || input.upstream.transport === 'http-api') {
      let url: URL;
      try {
        url = new URL(input.upstream.url);
      } catch {
        throw badRequest('invalid_upstream', `"${input.upstream.url}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest('invalid_upstream', 'the upstream URL must be http or https');
      // /proxy/<server>/<path> goes to <url>/<path>: a base with a query or fragment could not take a path.
      if (input.upstream.transport === 'http-api' && (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '')) {
        throw badRequest('invalid_upstream', 'the base URL of an HTTP API has no query, fragment or credentials (add a credential for it instead)');
      }
      if (input.upstream.transport === 'http-api' && input.tools.length > 0) throw badRequest('invalid_tool', 'an HTTP API has no tools: its mandates name methods and paths');
    } else if (input.upstream.command.trim().length === 0) {
      throw badRequest('invalid_upstream', 'the upstream command is empty');
    } else if (input.upstream.lease !== undefined) {
      const { provider, env } = input.upstream.lease;
      if (provider !== 'postgres') throw badRequest('invalid_lease', `"${String(provider)}" is not a dynamic-credential provider (postgres is)`);
      // The variable that receives the lease URL follows a credential's rules (no MANDATE_ variable).
      if (env !== null) parseInjection({ env });
    }
    if (input.upstream.transport !== 'stdio' && 'lease' in input.upstream) throw badRequest('invalid_lease', 'a lease is given to a stdio upstream, in its environment');
    const names = new Set<string>();
    const tools: Tool[] = input.tools.map((t) => {
      if (!TOOL_NAME.test(t.name)) throw badRequest('invalid_tool', `"${t.name}" is not a tool name`);
      if (names.has(t.name)) throw badRequest('invalid_tool', `tool ${t.name} is listed twice`);
      names.add(t.name);
      const labelled = t.sensitivity !== undefined || t.effect !== undefined || t.egress !== undefined;
      return {
        server: input.name,
        name: t.name,
        sensitivity: t.sensitivity ?? DEFAULT_LABELS.sensitivity,
        effect: t.effect ?? DEFAULT_LABELS.effect,
        egress: t.egress ?? DEFAULT_LABELS.egress,
        labelled,
        firstSeen: now,
      };
    });
    const environment = input.environment ?? null;
    if (environment !== null && !ENVIRONMENTS.includes(environment)) throw badRequest('invalid_environment', `environment must be one of ${ENVIRONMENTS.join(', ')}`);
    const server: Server = { name: input.name, upstream: input.upstream, environment, createdAt: now };
    await this.#store.createServer(server, tools);
    return { server, tools };
  }

  async get(name: string): Promise<{ server: Server; tools: Tool[] }> {
    const server = await this.#store.getServer(name);
    if (!server) throw notFound('server_not_found', `no server named ${name}`);
    return { server, tools: await this.#store.listTools(name) };
  }

  async list(): Promise<Server[]> {
    return this.#store.listServers();
  }
}
