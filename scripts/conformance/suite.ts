// The MCP conformance suite (`@modelcontextprotocol/conformance`), server scenarios, run
// against one URL by its own CLI; each scenario's checks are read back from the
// `checks.json` it saves. A scenario passes when none of its checks failed (warnings
// and notes do not fail it), as the suite itself counts.
//
// A server that never answers would stall the CLI for ever: a scenario that runs
// longer than SCENARIO_TIMEOUT_MS fails, the CLI is stopped, and the scenarios it had
// not reached yet are run one by one.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const CLI = join(dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json')), 'dist/index.js');
const SCENARIO_TIMEOUT_MS = 30_000;

/** The suite's own groups: `active` is what it runs by default, `pending` what it does not require yet. */
export type Suite = 'active' | 'pending';

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | string;
  errorMessage?: string;
}

export interface ScenarioResult {
  /** The group the scenario ran in (unknown for one run alone after the CLI stalled). */
  suite?: Suite;
  passed: boolean;
  successes: number;
  failures: string[];
  warnings: string[];
}

/** `server-<scenario>-<ISO time with : and . as ->`: the directory the CLI saves a scenario's checks in. */
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;
const STARTED = /^=== Running scenario: (\S+) ===$/gm;

const incomplete = (suite: Suite | undefined, why: string): ScenarioResult => ({ ...(suite ? { suite } : {}), passed: false, successes: 0, failures: [why], warnings: [] });

let listed: Promise<string[]> | undefined;
/** Every server scenario the suite has, in the order it runs them. */
export function serverScenarios(): Promise<string[]> {
  listed ??= promisify(execFile)(process.execPath, [CLI, 'list', '--server']).then(({ stdout }) => [...stdout.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1] as string));
  return listed;
}

/**
 * Runs the CLI once (`selection`: `--suite <group>` or `--scenario <name>`); resolves with
 * the result of each scenario it ran. Stops it when one scenario runs too long.
 */
async function runCli(url: string, selection: string[], suite: Suite | undefined): Promise<Map<string, ScenarioResult>> {
  const out = await mkdtemp(join(tmpdir(), 'mandate-conformance-'));
  try {
    const results = new Map<string, ScenarioResult>();
    const log = await new Promise<string>((resolve) => {
      const cli = spawn(process.execPath, [CLI, 'server', '--url', url, ...selection, '--output-dir', out], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      let running: string | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const onOutput = (chunk: Buffer) => {
        const before = output.length;
        output += chunk.toString();
        // A scenario's start line may straddle chunks: look again from the last line start before.
        for (const [, scenario] of output.slice(output.lastIndexOf('\n', before) + 1).matchAll(STARTED)) {
          running = scenario;
          clearTimeout(watchdog);
          watchdog = setTimeout(() => {
            if (running) results.set(running, incomplete(suite, `did not complete within ${SCENARIO_TIMEOUT_MS / 1000} s`));
            cli.kill();
          }, SCENARIO_TIMEOUT_MS);
        }
      };
      cli.stdout.on('data', onOutput);
      cli.stderr.on('data', onOutput);
      // The CLI exits 1 when a scenario fails: that is a result, not an error.
      cli.once('close', () => {
        clearTimeout(watchdog);
        resolve(output);
      });
    });
    for (const entry of await readdir(out)) {
      const scenario = RESULT_DIR.exec(entry)?.[1];
      if (!scenario || results.has(scenario)) continue;
      // The CLI saves a scenario's checks when it completes: without them, it did not.
      const saved = await readFile(join(out, entry, 'checks.json'), 'utf8').catch(() => null);
      if (saved === null) {
        results.set(scenario, incomplete(suite, 'the scenario did not complete'));
        continue;
      }
      const checks = JSON.parse(saved) as Check[];
      const said = (c: Check) => `${c.id}${c.errorMessage ? `: ${c.errorMessage}` : ''}`;
      const failures = checks.filter((c) => c.status === 'FAILURE').map(said);
      results.set(scenario, {
        ...(suite ? { suite } : {}), passed: failures.length === 0, successes: checks.filter((c) => c.status === 'SUCCESS').length, failures,
        warnings: checks.filter((c) => c.status === 'WARNING').map(said),
      });
    }
    // A scenario that threw inside the CLI saved nothing: its summary line names it.
    for (const [, scenario] of log.matchAll(/^✗ (\S+):/gm)) {
      if (scenario && !results.has(scenario)) results.set(scenario, incomplete(suite, 'the scenario did not complete'));
    }
    return results;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** Every server scenario of the suite, active and pending, against `url`. */
export async function runSuite(url: string): Promise<Map<string, ScenarioResult>> {
  const results = new Map([...await runCli(url, ['--suite', 'active'], 'active'), ...await runCli(url, ['--suite', 'pending'], 'pending')]);
  for (const scenario of await serverScenarios()) {
    if (!results.has(scenario)) results.set(scenario, (await runCli(url, ['--scenario', scenario], undefined)).get(scenario) ?? incomplete(undefined, 'the scenario did not run'));
  }
  return results;
}
