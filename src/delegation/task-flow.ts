// The task flow: what has flowed through one task so far — the highest sensitivity a
// tool handed back, whether content from outside was seen, the tools called and the
// external destinations contacted. Policies read it as `context.history`, so they can
// say "after confidential data was read, an external tool needs approval" or "after
// untrusted content, no destructive tool".
//
// Pure: `observe` folds one request's outcome into a flow and returns the new flow
// (the same object when nothing changed, so a caller can skip saving it). A flow only
// grows: sensitivity only rises, nothing seen is ever unseen, no entry is dropped;
// `joinTaskFlows` is its join, so flows observed concurrently merge without loss.
//
// What each outcome records (see docs/policy.md, "The task's history"):
//
//   outcome      reached the upstream   a reply reached the agent   a result reached the agent
//                `refused`: none        `failed`: first column      `error`: first two   `ok`: all three
//   tools/call   tools += the call;     untrusted, when the tool    max sensitivity rises to
//                destinations += it     has egress external         the tool's sensitivity
//                when egress external
//   resources/   —                      untrusted                   —
//   read
//   prompts/get  —                      —                           —
//
// A tool nobody labelled is taken to hand back internal data (the usual default
// classification of a company's data) and to reach outside: its decision takes it as
// confidential, which governs who may call it; its result is not known to be more
// than internal, so calling unlabelled tools alone never counts as reading
// confidential data.
import type { Sensitivity, ToolLabels } from '../store/types.ts';
import { SENSITIVITY_LEVEL } from '../policy/entities.ts';

export interface TaskFlow {
  /** The highest sensitivity a tool's result carried. */
  maxSensitivity: Sensitivity;
  /** Whether content from outside was seen: a reply of an external-egress tool, or a resource read. */
  untrusted: boolean;
  /** The tools called (requests that reached the upstream), as scope entries (`fs/read_file`), sorted. */
  tools: string[];
  /** The external-egress tools called, as scope entries (`mail/send_email`), sorted. */
  destinations: string[];
}

const NONE = Object.freeze([]) as unknown as string[];

/** A task that has just begun: nothing read, nothing seen, nothing called. */
export const NEW_TASK_FLOW: Readonly<TaskFlow> = Object.freeze({ maxSensitivity: 'public', untrusted: false, tools: NONE, destinations: NONE });

/** The requests a flow observes. */
export type FlowMethod = 'tools/call' | 'prompts/get' | 'resources/read';

export interface FlowStep {
  method: FlowMethod;
  /** The request as a scope entry, as its decision named it (`context.call`): `fs/read_file`. */
  call: string;
  /** The tool's labels (tools/call) when a person set them; absent: unlabelled (UNLABELLED). */
  labels?: ToolLabels | undefined;
}

/**
 * What became of a request: `refused` before the upstream (denied, waiting for
 * approval, over budget); `failed` after it was sent, with no reply (the upstream
 * failed, timed out or went away — it may have acted); `error`: the upstream answered
 * with an error (a JSON-RPC error); `ok`: it answered with a result (a tool result
 * with `isError` too: its content reaches the agent).
 */
export type FlowOutcome = 'refused' | 'failed' | 'error' | 'ok';

/** What the flow takes of a tool nobody labelled: it hands back internal data and reaches outside. */
export const UNLABELLED: Readonly<ToolLabels> = Object.freeze({ sensitivity: 'internal', effect: 'write', egress: 'external' });

const higher = (a: Sensitivity, b: Sensitivity): Sensitivity => (SENSITIVITY_LEVEL[b] > SENSITIVITY_LEVEL[a] ? b : a);

/** `entries` with `entry`, sorted; the same array when it is there already. */
function including(entries: string[], entry: string): string[] {
  if (entries.includes(entry)) return entries;
  return [...entries, entry].sort();
}

/** The flow after one request's outcome; the same object when the outcome adds nothing. */
export function observe(flow: TaskFlow, step: FlowStep, outcome: FlowOutcome): TaskFlow {
  if (outcome === 'refused') return flow;
  const answered = outcome === 'error' || outcome === 'ok';
  let { maxSensitivity, untrusted, tools, destinations } = flow;
  if (step.method === 'tools/call') {
    const labels = step.labels ?? UNLABELLED;
    tools = including(tools, step.call);
    if (labels.egress === 'external') {
      destinations = including(destinations, step.call);
      if (answered) untrusted = true;
    }
    if (outcome === 'ok') maxSensitivity = higher(maxSensitivity, labels.sensitivity);
  } else if (step.method === 'resources/read' && answered) {
    untrusted = true;
  }
  if (maxSensitivity === flow.maxSensitivity && untrusted === flow.untrusted && tools === flow.tools && destinations === flow.destinations) return flow;
  return { maxSensitivity, untrusted, tools, destinations };
}

const union = (a: readonly string[], b: readonly string[]): string[] => (b.every((x) => a.includes(x)) ? [...a] : [...new Set([...a, ...b])].sort());

/** Everything either flow has seen: the flow of a task observed in two places. */
export function joinTaskFlows(a: TaskFlow, b: TaskFlow): TaskFlow {
  return {
    maxSensitivity: higher(a.maxSensitivity, b.maxSensitivity),
    untrusted: a.untrusted || b.untrusted,
    tools: union(a.tools, b.tools),
    destinations: union(a.destinations, b.destinations),
  };
}

/** The History record policies read as `context.history` (policies/schema.cedarschema). */
export interface HistoryContext {
  max_sensitivity: Sensitivity;
  max_sensitivity_level: number;
  untrusted: boolean;
  tools: string[];
  external: boolean;
  destinations: string[];
}

/** The flow as `context.history`. */
export function historyContext(flow: TaskFlow): HistoryContext {
  return {
    max_sensitivity: flow.maxSensitivity,
    max_sensitivity_level: SENSITIVITY_LEVEL[flow.maxSensitivity],
    untrusted: flow.untrusted,
    tools: flow.tools,
    external: flow.destinations.length > 0,
    destinations: flow.destinations,
  };
}

/** The history of a task that has just begun. */
export const NO_HISTORY: Readonly<HistoryContext> = Object.freeze(historyContext(NEW_TASK_FLOW));
