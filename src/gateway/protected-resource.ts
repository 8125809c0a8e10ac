// RFC 9728 protected resource metadata for a gateway resource, and the
// `WWW-Authenticate` challenge that points to it (RFC 9449 §7.1, RFC 9728 §5.1).
import { DPOP_ALGORITHMS } from '../identity/dpop.ts';

export const metadataPath = (server: string): string => `/.well-known/oauth-protected-resource/mcp/${server}`;

export function protectedResourceMetadata(publicUrl: string, server: string, tools: string[]): Record<string, unknown> {
  return {
    resource: `${publicUrl}/mcp/${server}`,
    authorization_servers: [publicUrl],
    scopes_supported: [`${server}/*`, ...tools.map((t) => `${server}/${t}`)],
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: DPOP_ALGORITHMS,
    dpop_bound_access_tokens_required: true,
    resource_name: `Mandate gateway for ${server}`,
  };
}

/** A quoted-string header parameter: no quotes or backslashes, printable ASCII only (values may quote request data). */
const quoted = (value: string): string => value.replace(/["\\]/g, '').replace(/[^\x20-\x7e]/g, '?');

/** The challenge of a 401; without `error` (null) for a request that carried no credential at all (RFC 6750 §3.1). */
export function challenge(publicUrl: string, server: string, error: string | null, description: string): string {
  const why = error === null ? '' : `error="${quoted(error)}", error_description="${quoted(description)}", `;
  return `DPoP ${why}algs="${DPOP_ALGORITHMS.join(' ')}", resource_metadata="${publicUrl}${metadataPath(server)}"`;
}
