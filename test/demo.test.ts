// `npm run demo` runs unattended (no stdin, CI) and shows what it promises: a filtered
// tool list, an allowed call, a denied tool, a call held for approval and approved, a
// revoked mandate denied, the audit trail.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const RUN_TS = new URL('../bin/run-ts.js', import.meta.url).pathname;
const DEMO = new URL('../scripts/demo.ts', import.meta.url).pathname;

describe('npm run demo', () => {
  it('walks through allow, filter, deny, approval, revoke and the audit trail, and exits 0', { timeout: 60_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [RUN_TS, DEMO], { env: { ...process.env, CI: 'true', NO_COLOR: '1' }, timeout: 55_000 });
    assert.match(stdout, /the server offers 13 tools: .*get-env/);
    assert.match(stdout, /the agent sees 2: echo, get-sum/);
    assert.match(stdout, /tools\/call echo → "Echo: weekly numbers are in"/);
    assert.match(stdout, /MCP error -32003: denied: everything\/get-env is outside the scope of mandate mnd_\S+ .*"code":"tool_outside_scope"/);
    assert.match(stdout, /POST \/mcp\/everything\/preview → needs-approval, approvers \[\["owner"\]\], by sums-need-the-owner/);
    assert.match(stdout, /approval apr_\S+ for sha256:/);
    assert.match(stdout, /tools\/call get-sum \{a: 19, b: 23\} → "The sum of 19 and 23 is 42\."/);
    assert.match(stdout, /approval\s+.*approval\/approve/);
    assert.match(stdout, /HTTP 401 invalid_token \(mandate_revoked\)/);
    assert.match(stdout, /decision\s+alice ← agent\/research-bot\s+everything\/echo\s+allow/);
    assert.match(stdout, /result\s+alice ← agent\/research-bot\s+everything\/echo\s+ok in [\d.]+ ms/);
    assert.match(stdout, /authentication\s+alice ← agent\/research-bot\s+everything\s+deny \(mandate_revoked\)/);
    assert.ok(!stdout.includes('\u001b['), 'no colour codes when not on a terminal');
  });
});
