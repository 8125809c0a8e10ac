// What is wrong with a candidate policy set, each problem at its file, line and
// column. Cedar reports positions as UTF-8 byte offsets into the text it was given —
// a whole file when parsing, a single policy when validating — so each offset is
// carried back to a character position in the file the person edits.
import type * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { MandateError } from '../errors.ts';

export interface PolicyProblem {
  /** The file, as the set names it (`gateway.cedar`, or the schema's file name). */
  file: string;
  /** 1-based; columns count characters (Unicode code points), not bytes. */
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** The policy's id, when the problem belongs to one. */
  policy: string | null;
  message: string;
  /** Cedar's suggestion (`did you mean \`scope\`?`), when it has one. */
  help: string | null;
  severity: 'error' | 'warning';
}

/** A character span of a file: where a text Cedar was given starts in it. */
export interface Located {
  file: string;
  /** The whole file's text. */
  text: string;
  /** Character index in `text` where the text Cedar saw starts (0 for the whole file). */
  base: number;
}

/** The character index of a UTF-8 byte offset into `text`. */
export function charIndexOfByte(text: string, byteOffset: number): number {
  if (byteOffset <= 0) return 0;
  let bytes = 0;
  let index = 0;
  while (index < text.length && bytes < byteOffset) {
    const code = text.codePointAt(index) as number;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    index += code >= 0x10000 ? 2 : 1;
  }
  return index;
}

/** 1-based line and column (in code points) of a character index. */
export function lineColumn(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(index, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: [...text.slice(lineStart, end)].length + 1 };
}

/** A problem from one of Cedar's errors, its position carried back to the file. */
export function problemFromCedar(where: Located, error: cedar.DetailedError, policy: string | null, severity: PolicyProblem['severity'] = 'error'): PolicyProblem {
  const seen = where.text.slice(where.base);
  const location = error.sourceLocations?.[0];
  const start = where.base + (location ? charIndexOfByte(seen, location.start) : 0);
  const end = where.base + (location ? charIndexOfByte(seen, location.end) : 0);
  return problemAt(where, start, end, error.message, { policy, help: error.help ?? location?.label ?? null, severity });
}

/** A problem found by Mandate itself, at a character span of the file. */
export function problemAt(where: Pick<Located, 'file' | 'text'>, start: number, end: number, message: string, options: { policy?: string | null; help?: string | null; severity?: PolicyProblem['severity'] } = {}): PolicyProblem {
  const from = lineColumn(where.text, start);
  const to = lineColumn(where.text, Math.max(start, end));
  return {
    file: where.file, line: from.line, column: from.column, endLine: to.line, endColumn: to.column,
    policy: options.policy ?? null, message, help: options.help ?? null, severity: options.severity ?? 'error',
  };
}

export function compareProblems(a: PolicyProblem, b: PolicyProblem): number {
  return a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column;
}

/** `file:line:column: message` — the form editors and CI logs link to. */
export function formatProblem(problem: PolicyProblem, file: string = problem.file): string {
  const kind = problem.severity === 'warning' ? 'warning: ' : '';
  const help = problem.help && problem.help !== problem.message ? ` (${problem.help})` : '';
  return `${file}:${problem.line}:${problem.column}: ${kind}${problem.message}${help}`;
}

/** The JSON form problems take in API answers and `--json` output. */
export const problemView = (p: PolicyProblem) => ({
  file: p.file, line: p.line, column: p.column, end_line: p.endLine, end_column: p.endColumn,
  policy: p.policy, severity: p.severity, message: p.message, help: p.help,
});

/** A candidate set that cannot be activated; `problems` says where and why. */
export class PolicyInvalidError extends MandateError {
  readonly problems: readonly PolicyProblem[];

  constructor(problems: readonly PolicyProblem[], what = 'the policy set') {
    const shown = problems.slice(0, 20).map((p) => formatProblem(p)).join('; ');
    const more = problems.length > 20 ? `; and ${problems.length - 20} more` : '';
    super('policy_invalid', `${what} is invalid: ${shown}${more}`, { status: 422, extensions: { problems: problems.map(problemView) } });
    this.problems = problems;
  }
}
