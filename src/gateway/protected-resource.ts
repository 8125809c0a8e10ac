// RFC 9728 protected resource metadata for a gateway resource (an MCP server at
// /mcp/<server>, or an HTTP API at /proxy/<server>), and the `WWW-Authenticate`
// challenge that points to it (RFC 9449 §7.1, RFC 9728 §5.1).
import { DPOP_ALGORITHMS } from '../identity/dpop.ts';

/** `mcp`: the MCP gateway's resource; `proxy`: an HTTP API's. */
export type ResourceKind = 'mcp' | 'proxy';

export const metadataPath = (server: string, kind: ResourceKind = 'mcp'): string => `/.well-known/oauth-protected-resource/${kind}/${server}`;

export function protectedResourceMetadata(publicUrl: string, server: string, tools: string[], kind: ResourceKind = 'mcp'): Record<string, unknown> {
  return {
    resource: `${publicUrl}/${kind}/${server}`,
    authorization_servers: [publicUrl],
    scopes_supported: [`${server}/*`, ...tools.map((t) => `${server}/${t}`)],
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    dpop_bound_access_tokens_required: true,
    resource_name: kind === 'mcp' ? `Mandate gateway for ${server}` : `Mandate HTTP proxy for ${server}`,
  };
}

/** A quoted-string header parameter: no quotes or backslashes, printable ASCII only (values may quote request data). */
const quoted = (value: string): string => value.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, '?');

/** The challenge of a 401; without `error` (null) for a request that carried no credential at all (RFC 6750 §3.1). */
export function challenge(publicUrl: string, server: string, error: string | null, description: string, kind: ResourceKind = 'mcp'): string {
  const why = error === null ? '' : `error="${quoted(error)}", error_description="${quoted(description)}", `;
  return `DPoP ${why}algs="${DPOP_ALGORITHMS.join(' ')}", resource_metadata="${publicUrl}${metadataPath(server, kind)}"`;
}
