// The span of one governed call, made from the audit events the gateway already
// records for it: the decision and, when the call was allowed, its result. Names and
// attributes follow OpenTelemetry's semantic conventions for MCP and GenAI tool
// execution (github.com/open-telemetry/semantic-conventions-genai, docs/gen-ai/mcp.md:
// an MCP server span); what they have no name for is under `mandate.*`.
//
// Argument values never go into a span, only the digest the audit log keeps. A resource
// URI goes into `mcp.resource.uri` but not into the span name, which stays
// low-cardinality as the conventions ask.
import type { AuditEvent } from '../audit/event.ts';
import { failureCode } from '../audit/failure-code.ts';
import { MandateError } from '../errors.ts';
import type { CompletedSpan, SpanAttributes } from './otlp.ts';

/** An audit event, stored (with its number) or not yet. */
type Recorded = AuditEvent & { seq?: number };

/**
 * The span of a governed call from its decision and, once the upstream answered, its
 * result. It starts when the request arrived (the result's time less its latency) and
 * ends with the result; a denied call is a span of no length at its decision.
 */
export function spanFromAuditEvents(decision: Recorded, result?: Recorded): CompletedSpan {
  if (decision.kind !== 'decision') throw new MandateError('audit_event_unmappable', `a call's span starts from its decision event, not a ${decision.kind} event`);
  if (result !== undefined && result.kind !== 'result') throw new MandateError('audit_event_unmappable', `a call's span ends with its result event, not a ${result.kind} event`);
  const method = decision.method ?? 'unknown';
  const endMs = result?.time ?? decision.time;
  const startMs = result?.latencyMs === null || result?.latencyMs === undefined ? Math.min(decision.time, endMs) : Math.min(decision.time, endMs - result.latencyMs);
  const failed = decision.decision === 'deny' || result?.outcome === 'error';
  const failure = failed ? failureCode(result?.outcome === 'error' ? result : decision) : null;
  const attributes: SpanAttributes = {
    'mcp.method.name': method,
    ...targetAttributes(method, decision.tool),
    'error.type': failure,
    'mandate.server': decision.server,
    'mandate.id': decision.mandate,
    'mandate.person': decision.person,
    'mandate.agent': decision.agents[0] ?? null,
    'mandate.agent_chain': decision.agents.length > 1 ? decision.agents : null,
    'mandate.decision': decision.decision,
    'mandate.reason': decision.reason,
    'mandate.policies': decision.policies.length > 0 ? decision.policies : null,
    'mandate.policy_set_hash': decision.policySetHash,
    'mandate.shadow.decision': decision.shadow?.decision ?? null,
    'mandate.outcome': result?.outcome ?? decision.outcome,
    'mandate.arguments_digest': decision.argumentsDigest,
    'mandate.audit.seq': decision.seq ?? null,
    'mandate.audit.result_seq': result?.seq ?? null,
  };
  return {
    name: spanName(method, decision.tool),
    startMs,
    endMs,
    attributes,
    status: failed ? 'error' : 'ok',
    ...(failure === null ? {} : { statusMessage: failure }),
    kind: 'server',
  };
}

/** `{mcp.method.name} {target}` when the target is a tool or a prompt; the method alone otherwise. */
function spanName(method: string, target: string | null): string {
  return target !== null && (method === 'tools/call' || method === 'prompts/get') ? `${method} ${target}` : method;
}

function targetAttributes(method: string, target: string | null): SpanAttributes {
  if (target === null) return {};
  switch (method) {
    case 'tools/call': return { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': target };
    case 'prompts/get': return { 'gen_ai.prompt.name': target };
    case 'resources/read': return { 'mcp.resource.uri': target };
    default: return {};
  }
}
