#!/usr/bin/env node
// Runs a TypeScript entry point (benchmarks, scripts) with Node's type stripping,
// adding the flag that Node 22.13–22.17 still needs.
import { spawnSync } from 'node:child_process';

const flags = process.features.typescript ? [] : ['--experimental-strip-types', '--disable-warning=ExperimentalWarning'];
const result = spawnSync(process.execPath, [...flags, ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(result.status ?? 1);
