// `mandate audit explain <event>`: one governed call told as a person would ask about
// it — who asked (person, mandate, purpose), which agent chain executed it, what was
// called with which (redacted) arguments, which policies decided under which
// policy-set hash, approvals and credentials, what came of it, and whether the record
// is provably in the signed log.
import type { StoredAuditEvent } from './event.ts';

export interface InclusionStatus {
  /** verified: the proof leads to the root of a checkpoint signed by the log's key. */
  status: 'verified' | 'failed' | 'unavailable';
  treeSize?: number;
  message: string;
}

export interface Explained {
  /** The event asked about. */
  event: StoredAuditEvent;
  /** Its decision, when the event is a result. */
  decision?: StoredAuditEvent | null;
  /** Its result, when the event is a decision that allowed the call. */
  result?: StoredAuditEvent | null;
  inclusion: InclusionStatus;
}

const agentName = (spiffeId: string): string => spiffeId.replace(/^spiffe:\/\/[^/]+\//, '');
const when = (ms: number): string => new Date(ms).toISOString();

/** The decision's result: the next result event of the same mandate, call and arguments. */
export function findResult(decision: StoredAuditEvent, after: readonly StoredAuditEvent[]): StoredAuditEvent | null {
  return after.find((e) => e.seq > decision.seq && e.kind === 'result' && e.mandate === decision.mandate && e.server === decision.server
    && e.method === decision.method && e.tool === decision.tool && e.argumentsDigest === decision.argumentsDigest) ?? null;
}

/** The result's decision: the last decision event before it of the same mandate, call and arguments. */
export function findDecision(result: StoredAuditEvent, before: readonly StoredAuditEvent[]): StoredAuditEvent | null {
  return [...before].reverse().find((e) => e.seq < result.seq && e.kind === 'decision' && e.mandate === result.mandate && e.server === result.server
    && e.method === result.method && e.tool === result.tool && e.argumentsDigest === result.argumentsDigest) ?? null;
}

export function explainLines({ event, decision: givenDecision, result: givenResult, inclusion }: Explained): string[] {
  const decision = event.kind === 'result' ? givenDecision ?? null : event;
  const result = event.kind === 'result' ? event : givenResult ?? null;
  const lines: string[] = [`Audit event #${event.seq} (${event.kind}), recorded ${when(event.time)}`, ''];

  if (event.kind === 'evaluation') {
    lines.push(`An AuthZEN query by ${event.caller ?? 'an unknown caller'}: may ${event.subject ?? '?'} ${event.method ?? '?'} ${event.resource ?? '?'}?`);
  } else {
    lines.push('Who asked');
    lines.push(event.person ? `  person   ${event.person}` : '  person   unknown (the request was not authenticated)');
    lines.push(`  mandate  ${event.mandate ?? '-'}${event.purpose ? `, for "${event.purpose}"` : ''}`);
    lines.push('', 'Which agent chain executed it (current actor first)');
    if (event.agents.length === 0) lines.push('  none known');
    event.agents.forEach((agent, i) => lines.push(`  ${i === 0 ? 'actor   ' : `via (${i})`} ${agentName(agent)}  (${agent})`));
  }

  lines.push('', 'What was called');
  lines.push(`  ${event.method ?? '-'} ${event.server}${event.tool ? `/${event.tool}` : ''}`);
  const args = (decision ?? event) as StoredAuditEvent & { arguments?: unknown };
  if (args.argumentsDigest) lines.push(`  arguments digest  ${args.argumentsDigest}`);
  if (args.arguments !== undefined) lines.push(`  arguments (redacted)  ${JSON.stringify(args.arguments)}`);
  if (args.omitted?.length) lines.push(`  left out of the record (too long for one entry): ${args.omitted.join(', ')}`);

  lines.push('', 'How it was decided');
  const decided = decision ?? (event.kind === 'authentication' ? event : null);
  if (event.kind === 'approval') {
    lines.push(`  ${event.method ?? 'an approval step'} by ${event.caller ?? 'someone unknown'}: ${event.outcome ?? '?'}${event.reason ? ` (${event.reason})` : ''}${event.note ? `, "${event.note}"` : ''}`);
    if (event.actionDigest) lines.push(`  bound to the action digest  ${event.actionDigest}`);
    if (event.policies.length > 0) lines.push(`  asked for by  ${event.policies.join(', ')}`);
  } else if (event.kind === 'token') {
    lines.push(`  ${event.decision === 'allow' ? 'a task token was issued' : `the token request was refused: ${event.reason ?? 'unknown reason'}`} (RFC 8693 token exchange; no tool policy was asked)`);
  } else if (!decided) {
    lines.push('  the decision is not in the events searched near this result');
  } else if (decided.kind === 'authentication') {
    lines.push(`  refused at authentication: ${decided.reason ?? 'unknown reason'} (no policy was asked)`);
  } else {
    lines.push(`  ${decided.decision ?? '?'}${decided.reason ? ` (${decided.reason})` : ''}, decision #${decided.seq} at ${when(decided.time)}`);
    lines.push(`  determining policies  ${decided.policies.length > 0 ? decided.policies.join(', ') : 'none (nothing permitted it: denied by default)'}`);
    lines.push(`  policy set  ${decided.policySetHash ?? '-'}`);
    if (decided.shadow) lines.push(`  shadow policies would have decided ${decided.shadow.decision}${decided.shadow.policies.length ? ` by ${decided.shadow.policies.join(', ')}` : ''} (recorded, not enforced)`);
  }
  const approval = event.approval ?? decided?.approval ?? result?.approval;
  lines.push(`  approval    ${approval ? `${approval} (mandate approvals show ${approval})` : 'none recorded'}`);
  const credentials = [...new Set([...(event.credentials ?? []), ...(decided?.credentials ?? []), ...(result?.credentials ?? [])])];
  lines.push(`  credential  ${credentials.length > 0 ? `${credentials.join(', ')} (injected upstream by the gateway; the secret is never recorded)` : 'none recorded'}`);

  lines.push('', 'What came of it');
  if (event.kind === 'token' || event.kind === 'approval') lines.push(`  ${event.outcome ?? '?'}${event.latencyMs === null ? '' : ` in ${event.latencyMs} ms`}`);
  else if (result) lines.push(`  ${result.outcome ?? '?'}${result.reason ? ` (${result.reason})` : ''}${result.latencyMs === null ? '' : ` in ${result.latencyMs} ms`}, result #${result.seq} at ${when(result.time)}`);
  else if (decided?.decision === 'deny' || decided?.kind === 'authentication') lines.push('  nothing: the call was refused and never reached the server');
  else lines.push('  no result recorded near it (the call may still have been running, or its session ended first)');

  lines.push('', 'Proof');
  lines.push(`  ${inclusion.status === 'verified' ? '✓' : inclusion.status === 'failed' ? '✗' : '?'} ${inclusion.message}`);
  return lines;
}
