// `mandate policy …`: policy as code. `validate` and `test` work offline on a
// directory of `.cedar` files (the data directory's by default) against the
// repository's schema; `replay` decides the recorded requests of the audit log again
// under a candidate directory; `list`, `reload`, `put` and `delete` manage a running
// server's active set.
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_FILE, readSchema } from '../../app.ts';
import { parseDuration } from '../../config.ts';
import { MandateError } from '../../errors.ts';
import { PolicyEngine } from '../../policy/engine.ts';
import { readPolicyDirectory } from '../../policy/policy-store.ts';
import { PolicySet, type SchemaSource } from '../../policy/policy-set.ts';
import { approversText, parseTestFile, runTests, type TestResult } from '../../policy/policy-test.ts';
import { formatProblem, problemView, type PolicyProblem } from '../../policy/problems.ts';
import { NO_PERMIT, Replay, changedCount, type ReplayReport } from '../../policy/replay.ts';
import { optional, positional } from '../args.ts';
import { decisionsSince, openAuditReader } from '../audit-reader.ts';
import type { Command, CommandContext } from '../context.ts';

const schemaOption = { schema: { type: 'string' as const } };

const policyDir = (ctx: CommandContext, given: string | undefined): string => given ?? join(ctx.config.dataDir, 'policies');

const loadSchema = (given: string | undefined): Promise<SchemaSource> => readSchema(given ?? fileURLToPath(SCHEMA_FILE));

/** The problem's file as a path the person can open: policy files under their directory, the schema as given. */
const shownAt = (dir: string, schema: SchemaSource) => (p: PolicyProblem): string => formatProblem(p, p.file === schema.origin ? p.file : join(dir, p.file));

/** A directory's set, validated; throws (after printing every problem) when invalid. */
async function checkedSet(ctx: CommandContext, dir: string, schema: SchemaSource, print: boolean): Promise<PolicySet> {
  const checked = PolicySet.check(await readPolicyDirectory(dir), schema);
  const at = shownAt(dir, schema);
  if (!checked.ok) {
    if (print) {
      if (ctx.out.json) ctx.out.record({ valid: false, directory: dir, problems: checked.problems.map(problemView), warnings: checked.warnings.map(problemView) });
      else for (const p of [...checked.problems, ...checked.warnings]) ctx.out.note(at(p));
    }
    const n = checked.problems.length;
    throw new MandateError('policy_invalid', print ? `${n} problem${n === 1 ? '' : 's'} in the policy set of ${dir}` : `the policy set of ${dir} is invalid: ${checked.problems.map(at).join('; ')}`);
  }
  if (print && !ctx.out.json) for (const w of checked.warnings) ctx.out.note(at(w));
  if (print && ctx.out.json) {
    ctx.out.record({
      valid: true, directory: dir, hash: checked.set.hash, count: checked.set.policies.length,
      policies: checked.set.policies.map((p) => ({ id: p.id, file: p.origin, line: p.line ?? null, column: p.column ?? null, effect: p.effect, mode: p.mode, approval: p.approval })),
      warnings: checked.warnings.map(problemView),
    });
  }
  return checked.set;
}

/** Test files: FILE itself, or every `*.test.json` in a directory. */
async function testFiles(path: string): Promise<string[]> {
  const found = await stat(path).catch(() => null);
  if (!found) throw new MandateError('policy_tests_missing', `no policy tests at ${path}`);
  if (!found.isDirectory()) return [path];
  const files = (await readdir(path)).filter((f) => f.endsWith('.test.json')).sort().map((f) => join(path, f));
  if (files.length === 0) throw new MandateError('policy_tests_missing', `no *.test.json files in ${path}`);
  return files;
}

const by = (policies: readonly string[]): string => (policies.length > 0 ? `by ${policies.join(', ')}` : 'by no policy');

function describeFailure(r: TestResult): string[] {
  const approvers = (lists: string[][] | undefined): string => (lists ? `, approvers ${approversText(lists)}` : '');
  const expected = `${r.expected.decision}${r.expected.policies ? ` ${by(r.expected.policies)}` : ''}${approvers(r.expected.approvers)}${r.expected.shadow ? `, shadow ${r.expected.shadow}` : ''}${r.expected.errors ? ', with evaluation errors' : ''}`;
  const got = r.got ? `${r.got.decision} ${by(r.got.policies)}${approvers(r.got.approvers)}${r.got.shadow !== r.got.decision || r.expected.shadow ? `, shadow ${r.got.shadow} ${by(r.got.shadow_policies)}` : ''}` : 'no decision';
  return [
    `FAIL  ${r.name}  (${r.file} #${r.index})`,
    `      request   ${r.request.principal} ${r.request.action} ${r.request.resource}`,
    `      expected  ${expected}`,
    `      got       ${got}`,
    ...(r.got && r.got.errors.length > 0 ? [`      errors    ${r.got.errors.join('; ')}`] : []),
    ...r.failures.map((f) => `      why       ${f}`),
  ];
}

const shortAgent = (agent: string | null): string => agent?.replace(/^spiffe:\/\/[^/]+\//, '') ?? '?';

function describeReplay(report: ReplayReport, source: string, dir: string): string[] {
  const lines = [`replayed ${report.replayed} decision${report.replayed === 1 ? '' : 's'} since ${report.since} from ${source} under ${report.policy_set_hash} (${dir})`];
  if (report.recorded_under.length > 0) lines.push(`recorded under ${report.recorded_under.join(', ')}`);
  for (const c of report.changes) {
    const what = `${c.server}/${c.target ?? '?'}${c.method && c.method !== 'tools/call' ? ` (${c.method})` : ''}`;
    const refused = c.recorded.reason && c.recorded.decision === 'allow' && c.change === 'allow→deny' ? `; the call was refused anyway: ${c.recorded.reason}` : '';
    const approvers = c.replayed.approvers ? ` (approvers ${approversText(c.replayed.approvers)})` : '';
    lines.push(`#${c.seq}  ${c.time}  ${c.change}  ${c.person ?? '?'} ← ${shortAgent(c.agent)}  ${what}  ${c.replayed.policies.length > 0 ? by(c.replayed.policies) : NO_PERMIT}${approvers} (was ${by(c.recorded.policies).replace(/^by /, '')})${refused}`);
  }
  const changed = changedCount(report);
  const approvals = report.to_approval + report.from_approval > 0 ? `, ${report.to_approval} to needs-approval, ${report.from_approval} from needs-approval` : '';
  lines.push(`${changed === 0 ? 'no decision would change' : `${changed} would change: ${report.allow_to_deny} allow→deny, ${report.deny_to_allow} deny→allow${approvals}`}; ${report.unchanged + report.policies_changed} unchanged (${report.policies_changed} by other policies); ${report.skipped} without a recorded request`);
  const tally = (t: Omit<ReplayReport['by_policy'][number], 'policy'>): string => [
    t.allow_to_deny > 0 ? `${t.allow_to_deny} allow→deny` : '', t.deny_to_allow > 0 ? `${t.deny_to_allow} deny→allow` : '',
    t.to_approval > 0 ? `${t.to_approval} to needs-approval` : '', t.from_approval > 0 ? `${t.from_approval} from needs-approval` : '',
  ].filter(Boolean).join(', ');
  if (report.by_agent.length > 0) lines.push(`agents:   ${report.by_agent.map((a) => `${shortAgent(a.agent)} (${tally(a)})`).join('; ')}`);
  if (report.by_policy.length > 0) lines.push(`policies: ${report.by_policy.map((p) => `${p.policy} (${tally(p)})`).join('; ')}`);
  return lines;
}

/** `--since`: a duration back from now (24h, 90m, 7d) or a time (2025-06-01T00:00:00Z). */
function sinceOf(value: string, now: number): number {
  if (/^\d+\s*[smhd]?$/.test(value.trim())) return now - parseDuration(value) * 1000;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new MandateError('usage', `--since takes a duration (24h, 90m, 7d) or a time (2025-06-01T00:00:00Z), not "${value}"`);
  return time;
}

export const policyCommands: Command[] = [
  {
    words: ['policy', 'validate'], usage: 'mandate policy validate [DIR] [--schema FILE]',
    summary: 'check a policy dir (default: the data dir\'s) against the schema, offline: OK and its hash, or file:line:column: problem',
    options: schemaOption,
    run: async (parsed, ctx) => {
      const dir = policyDir(ctx, parsed.positionals[0]);
      const schema = await loadSchema(optional(parsed, 'schema'));
      const set = await checkedSet(ctx, dir, schema, true);
      const files = new Set(set.policies.map((p) => p.origin)).size;
      ctx.out.note(`OK  ${set.hash}  ${set.policies.length} polic${set.policies.length === 1 ? 'y' : 'ies'} in ${files} file${files === 1 ? '' : 's'} (${dir})`);
    },
  },
  {
    words: ['policy', 'test'], usage: 'mandate policy test [FILE|DIR] [--policies DIR] [--schema FILE] [--verbose]',
    summary: 'run policy tests (default: the policy dir\'s tests/*.test.json) against a policy dir, offline; exit 1 on a failure',
    options: { ...schemaOption, policies: { type: 'string' }, verbose: { type: 'boolean' } },
    run: async (parsed, ctx) => {
      const dir = policyDir(ctx, optional(parsed, 'policies'));
      const schema = await loadSchema(optional(parsed, 'schema'));
      const engine = new PolicyEngine(await checkedSet(ctx, dir, schema, false));
      const results: TestResult[] = [];
      for (const path of await testFiles(parsed.positionals[0] ?? join(dir, 'tests'))) {
        results.push(...runTests(basename(path), parseTestFile(path, await readFile(path, 'utf8')), engine, schema));
      }
      const failed = results.filter((r) => !r.passed);
      const summary = { passed: results.length - failed.length, failed: failed.length, total: results.length, policy_set_hash: engine.hash, directory: dir };
      if (ctx.out.json) ctx.out.record({ ...summary, results });
      else {
        for (const r of results) {
          if (!r.passed) describeFailure(r).forEach((line) => ctx.out.note(line));
          else if (parsed.values.verbose) ctx.out.note(`ok    ${r.name}  (${r.file} #${r.index})`);
        }
        ctx.out.note(`${summary.total} test${summary.total === 1 ? '' : 's'}: ${summary.passed} passed, ${summary.failed} failed — policy set ${engine.hash} (${dir})`);
      }
      if (failed.length > 0) throw new MandateError('policy_tests_failed', `${failed.length} of ${results.length} policy tests failed`);
    },
  },
  {
    words: ['policy', 'replay'], usage: 'mandate policy replay [--since 24h] [--policies DIR] [--schema FILE] [--fail-on-change]',
    summary: 'decide the recorded requests of the audit log again under a policy dir: which calls would change, by which policies',
    options: { ...schemaOption, since: { type: 'string' }, policies: { type: 'string' }, 'fail-on-change': { type: 'boolean' } },
    run: async (parsed, ctx) => {
      const since = sinceOf(optional(parsed, 'since') ?? '24h', Date.now());
      const dir = policyDir(ctx, optional(parsed, 'policies'));
      const engine = new PolicyEngine(await checkedSet(ctx, dir, await loadSchema(optional(parsed, 'schema')), false));
      const reader = await openAuditReader(ctx.config, ctx.api);
      const replay = new Replay(engine, since);
      try {
        for await (const event of decisionsSince(reader, since)) replay.add(event);
      } finally {
        await reader.close();
      }
      const report = replay.report();
      if (ctx.out.json) ctx.out.record({ source: reader.source, directory: dir, ...report });
      else describeReplay(report, reader.source, dir).forEach((line) => ctx.out.note(line));
      const changed = changedCount(report);
      if (parsed.values['fail-on-change'] && changed > 0) throw new MandateError('decisions_would_change', `${changed} recorded decision${changed === 1 ? '' : 's'} would change under ${dir}`);
    },
  },
  {
    words: ['policy', 'list'], usage: 'mandate policy list', summary: 'the running server\'s active policy set: its hash, each policy\'s id, file, effect and mode',
    run: async (_parsed, { api, out }) => {
      const active = await (await api()).request<{ hash: string; policies: Array<Record<string, unknown>>; last_reload: { ok: boolean; problems: PolicyProblemJson[] } | null }>('GET', '/api/v1/policies');
      if (out.json) return out.record(active);
      out.note(`policy set ${active.hash} (${active.policies.length} policies)`);
      out.table('policies', active.policies.map((p) => ({ ...p, file: `${String(p.file)}:${String(p.line)}` })), ['id', 'file', 'effect', 'mode']);
      if (active.last_reload && !active.last_reload.ok) {
        out.note('the last reload was refused; the set above stays active:');
        for (const p of active.last_reload.problems) out.note(`  ${p.file}:${p.line}:${p.column}: ${p.message}`);
      }
    },
  },
  {
    words: ['policy', 'reload'], usage: 'mandate policy reload', summary: 'make the running server read its policy dir now (refused with each problem when invalid)',
    run: async (_parsed, { api, out }) => out.record(await (await api()).request('POST', '/api/v1/policies/reload')),
  },
  {
    words: ['policy', 'put'], usage: 'mandate policy put <file.cedar> [--as NAME]',
    summary: 'write a policy file to the running server\'s set, activated only if the whole set validates',
    options: { as: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const path = positional(parsed, 0, 'the .cedar file');
      const text = await readFile(path, 'utf8').catch((error: Error) => {
        throw new MandateError('usage', `cannot read ${path}: ${error.message}`);
      });
      out.record(await (await api()).request('PUT', `/api/v1/policies/${encodeURIComponent(optional(parsed, 'as') ?? basename(path))}`, { text }));
    },
  },
  {
    words: ['policy', 'delete'], usage: 'mandate policy delete <NAME.cedar>', summary: 'delete a policy file from the running server\'s set',
    run: async (parsed, { api, out }) => out.record(await (await api()).request('DELETE', `/api/v1/policies/${encodeURIComponent(positional(parsed, 0, 'the policy file name'))}`)),
  },
];

interface PolicyProblemJson {
  file: string;
  line: number;
  column: number;
  message: string;
}
