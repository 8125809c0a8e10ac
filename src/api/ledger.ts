// The audit ledger over HTTP, as c2sp.org/tlog-tiles lays a log out under a prefix
// (here /audit/): `checkpoint`, the hash tiles `tile/<L>/<N>[.p/<W>]` and the entry
// bundles `tile/entries/<N>[.p/<W>]`; and `key`, the verifier key auditors check
// checkpoints with. The checkpoint, the hash tiles and the key are public — they show
// nothing but hashes and signatures. Entry bundles hold the events themselves (who
// called what, under which mandate), so they need the admin credential.
import type { App } from '../app.ts';
import { readTileResource } from '../audit/ledger-reader.ts';
import { requireAdmin } from '../identity/caller.ts';
import { MandateError } from '../errors.ts';
import { authenticateRequest } from './authenticate.ts';
import type { RouteDef } from './http.ts';

const IMMUTABLE = 'public, max-age=31536000, immutable';

export function ledgerRoutes(app: App): RouteDef[] {
  const tile = (entries: boolean): RouteDef => ({
    method: 'GET', path: entries ? '/audit/tile/entries/{rest*}' : '/audit/tile/{rest*}', errorStyle: 'problem',
    handle: async ({ req, params, now }) => {
      if (entries) requireAdmin(await authenticateRequest(app, req, now));
      const path = `tile/${entries ? 'entries/' : ''}${params.rest as string}`;
      const { data, full } = await readTileResource(app.store, path);
      // A full tile never changes; a partial one is replaced by a wider one as the log grows.
      const cache = full ? (entries ? 'private, max-age=31536000, immutable' : IMMUTABLE) : 'no-cache';
      return { body: data, type: 'bytes', headers: { 'cache-control': cache } };
    },
  });
  return [
    {
      method: 'GET', path: '/audit/checkpoint', errorStyle: 'problem',
      handle: async () => {
        const latest = app.checkpoints.latest;
        if (!latest) throw new MandateError('checkpoint_missing', 'the audit log has not signed a checkpoint yet', { status: 503 });
        return { body: latest.note, type: 'text', headers: { 'cache-control': 'no-cache' } };
      },
    },
    {
      method: 'GET', path: '/audit/key', errorStyle: 'problem',
      handle: async () => ({ body: `${app.checkpoints.verifierKey}\n`, type: 'text', headers: { 'cache-control': 'public, max-age=3600' } }),
    },
    tile(true),
    tile(false),
  ];
}
