// The policy store over HTTP: the active set, its files, validated changes and
// reloads. A change that would leave an invalid set is refused with 422
// `policy_invalid` and a `problems` list (file, line, column, message); nothing is
// written and the active set stays.
import { z } from 'zod';
import type { LoadedPolicy } from '../../policy/engine.ts';
import { MAX_POLICY_FILE_BYTES, checkPolicyFileName, type ReloadStatus } from '../../policy/policy-store.ts';
import type { PolicySet } from '../../policy/policy-set.ts';
import { PolicyInvalidError, problemView } from '../../policy/problems.ts';
import { notFound } from '../../errors.ts';
import { route } from './route.ts';
import { PolicyProblemView } from './schemas.ts';

const tag = 'policies';
const time = z.string().describe('RFC 3339 time');

const PolicyView = z.object({
  id: z.string(), file: z.string(), line: z.number().int().nullable(), column: z.number().int().nullable(),
  effect: z.enum(['permit', 'forbid']), mode: z.enum(['enforce', 'shadow']).describe('shadow: evaluated and recorded, never enforced'),
  approval: z.array(z.string()).nullable().describe('a forbid\'s @approval: who may approve what it stops (one of them); null: none'),
});
const policyView = (p: LoadedPolicy): z.infer<typeof PolicyView> => ({ id: p.id, file: p.origin, line: p.line ?? null, column: p.column ?? null, effect: p.effect, mode: p.mode, approval: p.approval });

const ReloadView = z.object({
  at: time, trigger: z.string().describe('watch (the directory changed), api, or startup'), ok: z.boolean(), changed: z.boolean(),
  hash: z.string().describe('the active set after it'), problems: z.array(PolicyProblemView),
});
const reloadView = (r: ReloadStatus): z.infer<typeof ReloadView> => ({ at: new Date(r.at).toISOString(), trigger: r.trigger, ok: r.ok, changed: r.changed, hash: r.hash, problems: r.problems.map(problemView) });

const ActiveSetView = z.object({
  hash: z.string().describe('the content hash every decision records'), count: z.number().int(), loaded_at: time,
  files: z.array(z.object({ file: z.string(), policies: z.number().int() })),
  policies: z.array(PolicyView),
  last_reload: ReloadView.nullable(),
});

const ChangeView = z.object({ file: z.string(), hash: z.string(), previous_hash: z.string(), changed: z.boolean(), count: z.number().int() });

const fileParam = (params: Record<string, string>): string => {
  const file = params.file as string;
  checkPolicyFileName(file);
  return file;
};

const setView = (set: PolicySet) => ({ hash: set.hash, count: set.policies.length, policies: set.policies.map(policyView) });

export const policyRoutes = [
  route({
    method: 'GET', path: '/api/v1/policies', tag, access: 'admin',
    summary: 'The active policy set: its hash, files and policies (id, file, line, effect, mode), and how the last reload went',
    response: ActiveSetView,
    handle: async ({ app }) => {
      const store = app.policies;
      const { policies, hash } = store.engine;
      return {
        hash, count: policies.length, loaded_at: new Date(store.loadedAt).toISOString(),
        files: store.files.map((f) => ({ file: f.file, policies: policies.filter((p) => p.origin === f.file).length })),
        policies: policies.map(policyView),
        last_reload: store.lastReload ? reloadView(store.lastReload) : null,
      };
    },
  }),
  route({
    method: 'GET', path: '/api/v1/policies/{file}', tag, access: 'admin', summary: 'One file of the active set: its Cedar text and policies',
    response: z.object({ file: z.string(), text: z.string(), policies: z.array(PolicyView) }),
    handle: async ({ app, params }) => {
      const file = params.file as string;
      const found = app.policies.files.find((f) => f.file === file);
      if (!found) throw notFound('policy_file_not_found', `the active set has no file ${file}`);
      return { file, text: found.text, policies: app.policies.engine.policies.filter((p) => p.origin === file).map(policyView) };
    },
  }),
  route({
    method: 'PUT', path: '/api/v1/policies/{file}', tag, access: 'admin', maxBodyBytes: 4 * MAX_POLICY_FILE_BYTES,
    summary: 'Write one policy file and activate the set with it — only if that whole set validates (else 422 policy_invalid with its problems, and nothing is written)',
    body: z.strictObject({ text: z.string().describe('the file\'s Cedar text') }),
    response: ChangeView.extend({ created: z.boolean() }),
    handle: async ({ app, params, body }) => {
      const file = fileParam(params);
      const previous = app.policies.engine.hash;
      const { status, created } = await app.policies.put(file, body.text);
      return { file, hash: status.hash, previous_hash: previous, changed: status.changed, count: app.policies.engine.policies.length, created };
    },
  }),
  route({
    method: 'DELETE', path: '/api/v1/policies/{file}', tag, access: 'admin', summary: 'Delete one policy file and activate the set without it',
    response: ChangeView,
    handle: async ({ app, params }) => {
      const file = fileParam(params);
      const previous = app.policies.engine.hash;
      const status = await app.policies.remove(file);
      return { file, hash: status.hash, previous_hash: previous, changed: status.changed, count: app.policies.engine.policies.length };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/policies/validate', tag, access: 'admin', maxBodyBytes: 16 * MAX_POLICY_FILE_BYTES,
    summary: 'Validate a candidate set against the schema without activating it: the files given (base "none"), or the active files with these put over them (base "active"; null deletes one)',
    body: z.strictObject({
      files: z.record(z.string(), z.string().nullable()).describe('file name → Cedar text'),
      base: z.enum(['none', 'active']).optional().describe('default none'),
    }),
    response: z.object({
      valid: z.boolean(), hash: z.string().nullable().describe('the candidate set\'s hash, when valid'), count: z.number().int(),
      policies: z.array(PolicyView), problems: z.array(PolicyProblemView), warnings: z.array(PolicyProblemView),
    }),
    handle: async ({ app, body }) => {
      Object.keys(body.files).forEach(checkPolicyFileName);
      const files = new Map(body.base === 'active' ? app.policies.files.map((f) => [f.file, f.text]) : []);
      for (const [file, text] of Object.entries(body.files)) {
        if (text === null) files.delete(file);
        else files.set(file, text);
      }
      const sources = [...files].sort(([a], [b]) => (a < b ? -1 : 1)).map(([origin, text]) => ({ origin, text }));
      const checked = app.policies.check(sources);
      const warnings = checked.warnings.map(problemView);
      if (!checked.ok) return { valid: false, hash: null, count: 0, policies: [], problems: checked.problems.map(problemView), warnings };
      return { valid: true, ...setView(checked.set), problems: [], warnings };
    },
  }),
  route({
    method: 'POST', path: '/api/v1/policies/reload', tag, access: 'admin',
    summary: 'Read the policy directory again now and activate its set if valid (else 422 policy_invalid with its problems; the active set stays)',
    response: z.object({ hash: z.string(), previous_hash: z.string(), changed: z.boolean(), count: z.number().int() }),
    handle: async ({ app }) => {
      const previous = app.policies.engine.hash;
      const status = await app.policies.reload('api');
      if (!status.ok) throw new PolicyInvalidError(status.problems, 'the policy directory\'s set');
      return { hash: status.hash, previous_hash: previous, changed: status.changed, count: app.policies.engine.policies.length };
    },
  }),
];
