// What the gateway logs of a stdio upstream's stderr: the last lines when it crashes,
// with secrets redacted, even one the process wrote in two pieces; and the environment it gets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StdioUpstream, upstreamEnvironment } from './stdio-upstream.ts';

const AWS_KEY = `AKIA${'K4'.repeat(8)}`;

describe('a stdio upstream\'s stderr', () => {
  it('is logged with its secrets redacted when the process ends', async () => {
    const logged: string[] = [];
    const script = [
      `process.stderr.write('connecting with ${AWS_KEY.slice(0, 10)}');`,
      `setTimeout(() => process.stderr.write('${AWS_KEY.slice(10)} to postgres://app:hunter2@db/orders\\n'), 50);`,
      `setTimeout(() => process.stderr.write('no newline at the end: Authorization: Bearer abc.def.ghi123', () => process.exit(3)), 100);`,
    ].join('\n');
    const upstream = new StdioUpstream({ command: process.execPath, args: ['-e', script] }, 'leaky', { maxRestarts: 0, log: (line) => logged.push(line) });
    const closed = new Promise<void>((resolve) => { upstream.onclose = resolve; });
    await upstream.start();
    await closed;
    const crash = logged.find((line) => line.includes('exited with code 3')) ?? '';
    assert.match(crash, /connecting with \[REDACTED:aws_access_key_id\] to postgres:\/\/app:\[REDACTED:url_password\]@db\/orders/);
    assert.match(crash, /no newline at the end: Authorization: Bearer \[REDACTED:authorization\]/);
    assert.doesNotMatch(logged.join('\n'), /AKIA|hunter2|abc\.def/);
  });
});

describe('the environment of an upstream process', () => {
  it('keeps the machine\'s variables, never Mandate\'s own settings or the trace exporter\'s headers, and adds what is injected', () => {
    const env = upstreamEnvironment({ API_KEY: 'injected' }, {
      PATH: '/usr/bin', HOME: '/home/m', MANDATE_TOKEN: 'admin-token', MANDATE_APPROVAL_WEBHOOK_SECRET: 'whsec_x', MANDATE_KEK: 'k', MANDATE_PG_ADMIN_URL: 'postgres://a:b@h/d',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer t', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    });
    assert.deepEqual(env, { PATH: '/usr/bin', HOME: '/home/m', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', API_KEY: 'injected' });
  });
});
