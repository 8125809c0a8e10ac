#!/usr/bin/env node
// Runs every test file with Node's own test runner. Test files sit beside the code
// they prove (`src/**/*.test.ts`); cross-cutting end-to-end tests live in `test/`.
import { spawnSync } from 'node:child_process';

const flags = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const patterns = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['src/**/*.test.ts', 'test/**/*.test.ts'];
const result = spawnSync(process.execPath, [...flags, '--test', '--test-concurrency=4', '--test-timeout=120000', ...patterns], { stdio: 'inherit' });
process.exit(result.status ?? 1);
