// SPIFFE IDs (SPIFFE-ID spec §2): spiffe://<trust-domain>/<path>, no query,
// fragment, port or userinfo; trust domain ≤ 255 bytes, whole ID ≤ 2048 bytes.
import { badRequest } from '../errors.ts';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

/** An agent name is one SPIFFE path segment: letters, digits, `.`, `_` and `-`, at most 128 characters. */
export function assertAgentName(name: string): void {
  if (!SEGMENT.test(name) || name.length > 128 || name === '.' || name === '..') {
    throw badRequest('invalid_agent_name', `agent name "${name}" must be 1–128 characters of letters, digits, ".", "_" or "-"`);
  }
}

export const agentSpiffeId = (trustDomain: string, name: string): string => `spiffe://${trustDomain}/agent/${name}`;

export function isSpiffeId(value: string): boolean {
  if (value.length > 2048 || !value.startsWith('spiffe://')) return false;
  const rest = value.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (!TRUST_DOMAIN.test(trustDomain)) return false;
  if (slash === -1) return true;
  const segments = rest.slice(slash + 1).split('/');
  return segments.every((s) => SEGMENT.test(s) && s !== '.' && s !== '..');
}
