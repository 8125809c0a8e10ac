// A real Mandate in a temporary data directory with one person, one server, one
// enrolled agent and one mandate — the state a benchmark starts from.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../src/app.ts';
import { generateAgentKey, type AgentKey } from '../src/client/agent-key.ts';
import { loadConfig } from '../src/config.ts';
import { init } from '../src/init.ts';
import { nowSeconds } from '../src/lib/clock.ts';

export interface BenchWorld {
  app: App;
  key: AgentKey;
  mandateToken: string;
  resource: string;
  close: () => Promise<void>;
}

export async function benchWorld(port: number): Promise<BenchWorld> {
  const dataDir = await mkdtemp(join(tmpdir(), 'mandate-bench-'));
  const config = loadConfig({}, { dataDir, port, host: '127.0.0.1' });
  await init(config);
  const app = await createApp(config);
  const now = nowSeconds();
  const person = await app.people.add({ id: 'alice' }, now);
  await app.catalog.add({ name: 'fs', upstream: { transport: 'stdio', command: 'true', args: [] }, tools: [{ name: 'read_file', sensitivity: 'internal', effect: 'read' }] }, now);
  const { agent, enrollmentToken } = await app.agents.add({ name: 'bench-bot', owner: 'alice', purpose: 'benchmark' }, now);
  const key = generateAgentKey();
  await app.agents.enroll(enrollmentToken, key.publicJwk, now);
  key.clientId = agent.spiffeId;
  const { mandateToken } = await app.mandates.grant(person, { agentId: agent.id, purpose: 'benchmark', allow: ['fs/read_file'], ttl: 3600 }, now);
  return {
    app, key, mandateToken, resource: `${config.publicUrl}/mcp/fs`,
    close: async () => {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
