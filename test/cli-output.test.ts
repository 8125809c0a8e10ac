import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';

const MANDATE = new URL('../bin/mandate.js', import.meta.url).pathname;

describe('the mandate command', () => {
  it('ends quietly when the reader of its output stops early (as `| head` does)', async () => {
    const child = spawn(process.execPath, [MANDATE, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader is gone before anything was written
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(stderr, '', 'no stack trace');
    assert.equal(code, 0);
  });
});
