#!/usr/bin/env node
// The `mandate` command. Mandate's sources are TypeScript run by Node's own type
// stripping (on by default from Node 23.6 / 22.18); older 22.x lines need the flag,
// so the command re-runs itself with it rather than requiring a build step.
import { spawnSync } from 'node:child_process';

if (!process.features.typescript) {
  const flags = ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
  const result = spawnSync(process.execPath, [...flags, ...process.execArgv, import.meta.filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
// A reader that stops early (`mandate audit tail | head`) is not an error of ours.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
