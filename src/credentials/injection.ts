// How a credential reaches its upstream: as an HTTP header on every request to an
// HTTP upstream (an MCP server over streamable HTTP, or an HTTP API behind /proxy),
// or as an environment variable of a stdio upstream's process. The names are checked
// when the credential is added, so that a credential can never take over a header the
// transport itself speaks (Host, Content-Length, Mcp-Session-Id…) or the variables
// Mandate keeps for itself.
import { badRequest } from '../errors.ts';
import type { CredentialInjection, Upstream } from '../store/types.ts';

export const SECRET_PLACEHOLDER = '{secret}';
export const MIN_SECRET_LENGTH = 8;
export const MAX_SECRET_LENGTH = 16 * 1024;

/** An RFC 9110 field name (token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Headers a credential may not set: the transport's own, hop-by-hop, and the agent-facing authentication. */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'content-type', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade',
  'proxy-connection', 'proxy-authenticate', 'expect', 'accept', 'accept-encoding', 'dpop', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id',
  'x-http-method-override', 'x-http-method', 'x-method-override', 'forwarded', 'traceparent', 'tracestate',
]);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Printable ASCII, space and tab: what a header value may carry everywhere. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** The credential's target as stored and bound into its sealed secret: `header:<lower-case name>` or `env:<NAME>`. */
export const targetOf = (injection: CredentialInjection): string => (injection.kind === 'header' ? `header:${injection.header}` : `env:${injection.variable}`);

/** Checks and normalises an injection as given (`{header, format?}` or `{env}`); header names become lower case. */
export function parseInjection(input: { header?: string | undefined; format?: string | undefined; env?: string | undefined }): CredentialInjection {
  if ((input.header === undefined) === (input.env === undefined)) throw badRequest('invalid_injection', 'inject the credential as exactly one of a header and an environment variable');
  if (input.header !== undefined) {
    const header = input.header.toLowerCase();
    if (!HEADER_NAME.test(header)) throw badRequest('invalid_injection', `"${input.header}" is not an HTTP header name`);
    if (RESERVED_HEADERS.has(header) || header.startsWith('proxy-') || header.startsWith('sec-')) throw badRequest('invalid_injection', `a credential may not set the ${input.header} header: the transport sets it`);
    const format = input.format ?? SECRET_PLACEHOLDER;
    if (format.split(SECRET_PLACEHOLDER).length !== 2) throw badRequest('invalid_injection', `the header format must contain ${SECRET_PLACEHOLDER} exactly once, e.g. "Bearer ${SECRET_PLACEHOLDER}"`);
    if (!HEADER_VALUE.test(format) || format.length > 256) throw badRequest('invalid_injection', 'the header format must be printable ASCII of at most 256 characters');
    return { kind: 'header', header, format };
  }
  if (input.format !== undefined) throw badRequest('invalid_injection', 'a format applies to a header only');
  const variable = input.env as string;
  if (!ENV_NAME.test(variable)) throw badRequest('invalid_injection', `"${variable}" is not an environment variable name (letters, digits and _, not starting with a digit)`);
  if (variable.toUpperCase().startsWith('MANDATE_')) throw badRequest('invalid_injection', 'MANDATE_ variables are Mandate\'s own and are never passed to an upstream');
  return { kind: 'env', variable };
}

/** Whether an upstream can take the injection: a header over HTTP, a variable into a process Mandate starts. */
export function checkInjectionFits(server: string, upstream: Upstream, injection: CredentialInjection): void {
  const stdio = upstream.transport === 'stdio';
  if (injection.kind === 'env' && !stdio) throw badRequest('injection_unsupported', `server ${server} is reached over HTTP: inject its credential as a header`);
  if (injection.kind === 'header' && stdio) throw badRequest('injection_unsupported', `server ${server} is a stdio process: inject its credential as an environment variable`);
}

/** Checks a secret as given; the message never quotes it. */
export function checkSecret(secret: string, injection: CredentialInjection): void {
  if (secret.length < MIN_SECRET_LENGTH || secret.length > MAX_SECRET_LENGTH) throw badRequest('invalid_secret', `a secret is ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters`);
  if (injection.kind === 'header' && !HEADER_VALUE.test(secret)) throw badRequest('invalid_secret', 'a secret injected as a header must be printable ASCII (no line breaks or control characters)');
  if (injection.kind === 'env' && secret.includes('\0')) throw badRequest('invalid_secret', 'a secret injected as an environment variable cannot contain NUL');
}

/** The header value (the format with the secret in its place) or the variable's value. */
export function injectedValue(injection: CredentialInjection, secret: string): string {
  return injection.kind === 'header' ? injection.format.replace(SECRET_PLACEHOLDER, () => secret) : secret;
}
