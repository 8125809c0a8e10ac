import { createApp } from '../../app.ts';
import { listen } from '../../api/server.ts';
import { init } from '../../init.ts';
import { nowSeconds } from '../../lib/clock.ts';
import type { Command } from '../context.ts';

const EXPIRY_SWEEP_MS = 5_000;

export const setupCommands: Command[] = [
  {
    words: ['init'], usage: 'mandate init', summary: 'data dir, keys, admin credential, default policies (idempotent)',
    run: async (_parsed, { config, out }) => {
      const result = await init(config);
      out.record({ data_dir: result.dataDir, created: result.created, admin_credential: result.adminTokenFile }, [
        ['data dir', result.dataDir],
        ['created', result.created.length > 0 ? result.created.join(', ') : 'nothing (already initialised)'],
        ['admin credential', `${result.adminTokenFile} (mode 0600)`],
      ]);
    },
  },
  {
    words: ['serve'], usage: 'mandate serve [--init] [--port N] [--host H]', summary: 'run Mandate: token service, control plane, metrics',
    options: { init: { type: 'boolean' }, port: { type: 'string' }, host: { type: 'string' } },
    run: async (parsed, ctx) => {
      const config = { ...ctx.config };
      if (typeof parsed.values.port === 'string') config.port = Number(parsed.values.port);
      if (typeof parsed.values.host === 'string') config.host = parsed.values.host;
      if (parsed.values.init) await init(config);
      const app = await createApp(config);
      const running = await listen(app);
      const sweeper = setInterval(() => {
        app.mandates.expire(nowSeconds()).catch((error: unknown) => console.error('mandate: expiry sweep failed:', (error as Error).message));
      }, EXPIRY_SWEEP_MS);
      sweeper.unref();
      ctx.out.record({ url: running.url, issuer: config.publicUrl, data_dir: config.dataDir, store: app.store.kind, approvals: `${config.publicUrl}/approve` }, [
        ['Mandate', `listening on ${running.url}`],
        ['issuer', config.publicUrl],
        ['data dir', config.dataDir],
        ['store', app.store.kind],
        ['openapi', `${running.url}/api/v1/openapi.json`],
        ['approvals', `${config.publicUrl}/approve`],
      ]);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          clearInterval(sweeper);
          void running.close().then(() => app.close()).then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    },
  },
];
