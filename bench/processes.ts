// The processes a benchmark measures against: Node scripts started as children,
// ready once they print what they print when listening.
import { spawn, type ChildProcess } from 'node:child_process';

export const MANDATE_BIN = new URL('../bin/mandate.js', import.meta.url).pathname;

function waitForOutput(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}: ${seen.slice(-500)}`)));
    setTimeout(() => reject(new Error(`${what} did not start: ${seen.slice(-500)}`)), 20_000).unref();
  });
}

/** `node <args>` with `env` added, resolved once its output matches `ready`. */
export async function startProcess(args: string[], env: Record<string, string>, ready: RegExp, what: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitForOutput(child, ready, what);
  return child;
}

/** `mandate serve` on a prepared data directory. */
export function startMandate(dataDir: string, port: number): Promise<ChildProcess> {
  return startProcess([MANDATE_BIN, 'serve'], { MANDATE_DATA_DIR: dataDir, MANDATE_PORT: String(port), MANDATE_HOST: '127.0.0.1' }, /listening|http:\/\//i, 'mandate serve');
}
