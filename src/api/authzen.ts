// OpenID AuthZEN Authorization API 1.0, HTTPS binding: any enforcement point may ask
// Mandate's policy set for decisions. POST /access/v1/evaluation and
// /access/v1/evaluations, and the PDP metadata at /.well-known/authzen-configuration.
// Callers authenticate as on the control plane (admin credential, person token,
// trusted OIDC issuer); a decision is answered 200 whatever it is, and 4xx/5xx only
// for the exchange itself (authentication, a malformed body, an audit log that cannot
// record). Every evaluation is recorded in the audit log before it is answered, and
// the request's X-Request-ID comes back on every answer.
import { z } from 'zod';
import type { App } from '../app.ts';
import { EVALUATIONS_SEMANTICS, evaluate, evaluateAll, evaluationEvent, type Evaluation } from '../authzen/access-evaluation.ts';
import { MAX_VALUE_DEPTH, PARENTS_PROPERTY, type AccessRequest } from '../authzen/cedar-request.ts';
import { MandateError } from '../errors.ts';
import type { Caller } from '../identity/caller.ts';
import { errorReply, type Reply, type RequestContext } from './http.ts';
import { route } from './rest/route.ts';

/** The most evaluations one request may ask for. */
export const MAX_EVALUATIONS = 100;

export const AUTHZEN_PATHS = {
  evaluation: '/access/v1/evaluation',
  evaluations: '/access/v1/evaluations',
  metadata: '/.well-known/authzen-configuration',
} as const;

const tag = 'authzen';

const properties = (what: string) => z.record(z.string(), z.unknown()).describe(
  `${what}: JSON values become Cedar values (strings, booleans, whole numbers as Long, arrays as sets, objects as records, {"__entity": {"type","id"}} and {"__extn": {"fn","arg"}} as Cedar's escapes); null members are left out`,
);
const entityProperties = properties(`attributes of the entity; "${PARENTS_PROPERTY}": [{"type","id"}, …] names its parents in the hierarchy`);
const Subject = z.object({ type: z.string().min(1).max(256).describe('Cedar entity type, e.g. Agent or Person'), id: z.string().min(1).max(1024), properties: entityProperties.optional() });
const Resource = z.object({ type: z.string().min(1).max(256).describe('Cedar entity type, e.g. Tool or Agent'), id: z.string().min(1).max(1024), properties: entityProperties.optional() });
const Action = z.object({ name: z.string().min(1).max(256).describe('the Cedar action id, e.g. tools/call or mandate/grant'), properties: z.record(z.string(), z.unknown()).optional().describe('must be empty: Cedar actions have no attributes') });
const Context = properties('the Cedar context');

type Tuple = { subject?: unknown; action?: unknown; resource?: unknown; context?: unknown };

/** Whether a value nests deeper than the limit; the recursion stops at the limit, so a hostile nesting cannot exhaust the stack. */
function nestsTooDeep(value: unknown, depth: number): boolean {
  if (depth > MAX_VALUE_DEPTH) return true;
  if (typeof value !== 'object' || value === null) return false;
  return (Array.isArray(value) ? value : Object.values(value)).some((member) => nestsTooDeep(member, depth + 1));
}

function checkDepth(tuple: Tuple, at: Array<string | number>, ctx: z.RefinementCtx): void {
  const values: Array<[string[], unknown]> = [
    [['subject', 'properties'], (tuple.subject as { properties?: unknown } | undefined)?.properties],
    [['action', 'properties'], (tuple.action as { properties?: unknown } | undefined)?.properties],
    [['resource', 'properties'], (tuple.resource as { properties?: unknown } | undefined)?.properties],
    [['context'], tuple.context],
  ];
  for (const [path, value] of values) {
    if (value !== undefined && nestsTooDeep(value, 0)) ctx.addIssue({ code: 'custom', path: [...at, ...path], message: `nests deeper than ${MAX_VALUE_DEPTH} levels` });
  }
}

const EvaluationRequest = z.object({ subject: Subject, action: Action, resource: Resource, context: Context.optional() })
  .superRefine((body, ctx) => checkDepth(body, [], ctx));

const EvaluationItem = z.object({ subject: Subject.optional(), action: Action.optional(), resource: Resource.optional(), context: Context.optional() });
const EvaluationsRequest = EvaluationItem.extend({
  evaluations: z.array(EvaluationItem).max(MAX_EVALUATIONS, `at most ${MAX_EVALUATIONS} evaluations per request; send more requests`).optional()
    .describe('each evaluation takes subject, action, resource and context from the top level unless it has its own (a member replaces the default whole)'),
  options: z.object({ evaluations_semantic: z.enum(EVALUATIONS_SEMANTICS).optional() }).optional(),
}).superRefine((body, ctx) => {
  checkDepth(body, [], ctx);
  const items = body.evaluations ?? [];
  for (const member of ['subject', 'action', 'resource'] as const) {
    if (body[member] !== undefined) continue;
    if (items.length === 0) ctx.addIssue({ code: 'custom', path: [member], message: 'required (there are no evaluations to give one)' });
    items.forEach((item, i) => {
      if (item[member] === undefined) ctx.addIssue({ code: 'custom', path: ['evaluations', i, member], message: `required: neither this evaluation nor the top level has a ${member}` });
    });
  }
  items.forEach((item, i) => checkDepth(item, ['evaluations', i], ctx));
});

const DecisionView = z.object({
  decision: z.boolean(),
  context: z.object({
    reason_admin: z.object({ en: z.string() }).describe('why, for administrators: it names policies'),
    policies: z.array(z.string()).describe('the determining policies; empty for a default deny'),
    policy_set_hash: z.string(),
    errors: z.array(z.string()).optional().describe('Cedar evaluation errors: any error denies'),
    error: z.object({ status: z.number().int(), message: z.string() }).optional().describe('the request could not be given to Cedar (a value it cannot represent)'),
    approval: z.object({ policies: z.array(z.string()), approvers: z.array(z.array(z.string())) }).optional()
      .describe('the request needs approval (decision false until then): one approver of each list, a list per determining policy'),
    shadow: z.object({ decision: z.boolean(), policies: z.array(z.string()) }).optional().describe('what the set decides with its shadow policies enforced'),
    reason: z.enum(['deny_on_first_deny', 'permit_on_first_permit']).optional().describe('on the evaluation that ended a batch early'),
  }),
});

const MetadataView = z.object({ policy_decision_point: z.string(), access_evaluation_endpoint: z.string(), access_evaluations_endpoint: z.string() });

/** The PDP metadata: only what Mandate implements (no search endpoints, no registered capabilities). */
export function pdpMetadata(publicUrl: string): z.infer<typeof MetadataView> {
  return {
    policy_decision_point: publicUrl,
    access_evaluation_endpoint: `${publicUrl}${AUTHZEN_PATHS.evaluation}`,
    access_evaluations_endpoint: `${publicUrl}${AUTHZEN_PATHS.evaluations}`,
  };
}

/** Records every evaluation before any is answered: an answer the audit log lacks is never given. */
async function record(app: App, caller: Caller, evaluations: readonly Evaluation[]): Promise<void> {
  const time = Date.now();
  try {
    await Promise.all(evaluations.map((evaluation) => app.audit.append(evaluationEvent(caller, evaluation, time))));
  } catch (error) {
    throw new MandateError('audit_unavailable', `the decision could not be recorded in the audit log, so none is given (${(error as Error).message})`, { status: 503 });
  }
}

/**
 * The AuthZEN side of the exchange: the caller's X-Request-ID on every answer (errors
 * included), and RFC 6750's challenge without an error code when no credential came.
 */
const transport = (headers: Record<string, string> = {}) => async ({ req, url }: RequestContext, serve: () => Promise<Reply>): Promise<Reply> => {
  let reply: Reply;
  try {
    reply = await serve();
  } catch (error) {
    if (!(error instanceof MandateError)) console.error(`mandate: ${req.method} ${url.pathname} failed:`, (error as Error)?.stack ?? error);
    reply = errorReply(error, 'problem', url.pathname);
    if (error instanceof MandateError && error.code === 'token_missing') reply.headers = { ...reply.headers, 'www-authenticate': 'Bearer realm="mandate"' };
  }
  const requestId = req.headers['x-request-id'];
  const echoed = Array.isArray(requestId) ? requestId.join(', ') : requestId;
  reply.headers = { ...reply.headers, ...headers, ...(echoed === undefined ? {} : { 'x-request-id': echoed }) };
  return reply;
};

const requestOf = (tuple: { subject: AccessRequest['subject']; action: AccessRequest['action']; resource: AccessRequest['resource']; context?: Record<string, unknown> }): AccessRequest =>
  ({ subject: tuple.subject, action: tuple.action, resource: tuple.resource, ...(tuple.context === undefined ? {} : { context: tuple.context }) });

export const authzenRoutes = [
  route({
    method: 'POST', path: AUTHZEN_PATHS.evaluation, tag, access: 'authenticated', around: transport(),
    summary: 'AuthZEN Access Evaluation: may this subject do this action on this resource? Answered 200 with the decision and why, whatever it is',
    body: EvaluationRequest, response: DecisionView,
    handle: async ({ app, caller, body }) => {
      const engine = app.policy();
      const evaluation = evaluate(engine, requestOf(body), engine.set.actionGroups);
      await record(app, caller!, [evaluation]);
      return evaluation.answer;
    },
  }),
  route({
    method: 'POST', path: AUTHZEN_PATHS.evaluations, tag, access: 'authenticated', around: transport(),
    summary: `AuthZEN Access Evaluations: up to ${MAX_EVALUATIONS} evaluations under execute_all, deny_on_first_deny or permit_on_first_permit, all against one policy set`,
    body: EvaluationsRequest, response: z.union([z.object({ evaluations: z.array(DecisionView) }), DecisionView]),
    handle: async ({ app, caller, body }) => {
      const engine = app.policy();
      const actionGroups = engine.set.actionGroups;
      const items = body.evaluations ?? [];
      if (items.length === 0) {
        // Without evaluations the request is a single Access Evaluation and is answered as one.
        const evaluation = evaluate(engine, requestOf({ subject: body.subject!, action: body.action!, resource: body.resource!, context: body.context }), actionGroups);
        await record(app, caller!, [evaluation]);
        return evaluation.answer;
      }
      const requests = items.map((item) => requestOf({
        subject: item.subject ?? body.subject!, action: item.action ?? body.action!, resource: item.resource ?? body.resource!, context: item.context ?? body.context,
      }));
      const evaluations = evaluateAll(engine, requests, body.options?.evaluations_semantic ?? 'execute_all', actionGroups);
      await record(app, caller!, evaluations);
      return { evaluations: evaluations.map((e) => e.answer) };
    },
  }),
  route({
    method: 'GET', path: AUTHZEN_PATHS.metadata, tag, access: 'public', around: transport({ 'cache-control': 'public, max-age=300' }),
    summary: 'AuthZEN Policy Decision Point metadata: the endpoints Mandate answers', response: MetadataView,
    handle: async ({ app }) => pdpMetadata(app.config.publicUrl),
  }),
];
