// The `mandate` command. Every verb takes --json and exits non-zero with a one-line
// reason on error.
import { loadConfig } from '../config.ts';
import { MandateError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { ApiClient } from './api-client.ts';
import { parse } from './args.ts';
import { adminCommands } from './commands/admin.ts';
import { agentCommands } from './commands/agents.ts';
import { approvalCommands } from './commands/approvals.ts';
import { auditCommands } from './commands/audit.ts';
import { auditLedgerCommands } from './commands/audit-ledger.ts';
import { callCommands } from './commands/call.ts';
import { credentialCommands } from './commands/credentials.ts';
import { groupCommands } from './commands/groups.ts';
import { mandateCommands } from './commands/mandates.ts';
import { peopleCommands } from './commands/people.ts';
import { policyCommands } from './commands/policy.ts';
import { serverCommands } from './commands/servers.ts';
import { setupCommands } from './commands/setup.ts';
import { tokenCommands } from './commands/token.ts';
import type { Command } from './context.ts';
import { createOutput } from './output.ts';

export const COMMANDS: Command[] = [...setupCommands, ...peopleCommands, ...groupCommands, ...serverCommands, ...credentialCommands, ...agentCommands, ...mandateCommands, ...approvalCommands, ...tokenCommands, ...callCommands, ...auditCommands, ...auditLedgerCommands, ...policyCommands, ...adminCommands];

export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  const lines = COMMANDS.map((c) => (c.usage.length > 60 ? `  ${c.usage}\n  ${''.padEnd(Math.min(width, 60))}  ${c.summary}` : `  ${c.usage.padEnd(Math.min(width, 60))}  ${c.summary}`));
  return [
    `mandate ${VERSION} — identity, authorization and audit for AI agents`,
    '',
    'Usage:',
    ...lines,
    '',
    'Every verb takes --json for machine-readable output.',
    'Environment: MANDATE_DATA_DIR (./.mandate), MANDATE_PORT (8780), MANDATE_HOST (127.0.0.1), MANDATE_URL (where verbs reach',
    'a running server), MANDATE_TOKEN (admin credential or person token; defaults to the admin credential in the data dir),',
    'MANDATE_PUBLIC_URL, MANDATE_TRUST_DOMAIN, MANDATE_MAX_MANDATE_TTL, MANDATE_KEK_FILE (or MANDATE_KEK; the key sealing credentials).',
    'Docs: docs/README.md',
  ].join('\n');
}

function findCommand(argv: string[]): { command: Command; rest: string[] } | null {
  const candidates = [...COMMANDS].sort((a, b) => b.words.length - a.words.length);
  for (const command of candidates) {
    if (command.words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(command.words.length) };
  }
  return null;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const json = argv.includes('--json');
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (argv[0] === '--version' || argv[0] === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  try {
    const found = findCommand(argv);
    if (!found) {
      const group = COMMANDS.filter((c) => c.words[0] === argv[0]);
      throw new MandateError('usage', group.length > 0 ? `unknown "${argv.join(' ')}"; try: ${group.map((c) => c.words.join(' ')).join(', ')}` : `unknown command "${argv[0]}" (see mandate --help)`);
    }
    const parsed = parse(found.rest, found.command.options ?? {});
    if (parsed.values.help) {
      process.stdout.write(`usage: ${found.command.usage}\n  ${found.command.summary}\n${(found.command.details ?? []).map((line) => `  ${line}\n`).join('')}`);
      return 0;
    }
    const config = loadConfig(env);
    await found.command.run(parsed, { config, env, out: createOutput(json), api: () => ApiClient.fromEnvironment(config, env) });
    return 0;
  } catch (error) {
    const known = error instanceof MandateError ? error : new MandateError('internal_error', (error as Error)?.message ?? String(error));
    if (json) process.stderr.write(`${JSON.stringify({ error: known.code, message: known.message })}\n`);
    else process.stderr.write(`mandate: ${known.message} (${known.code})\n`);
    return known.code === 'usage' ? 2 : 1;
  }
}
