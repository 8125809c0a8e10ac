// Reading the audit ledger out of the store, for the server's /audit endpoints, the
// proofs API and the CLI alike: tiles and entry bundles (c2sp.org/tlog-tiles),
// inclusion proofs for an event, consistency proofs between two tree sizes. Anything
// served is a function of the committed tree only; a tile wider than what is
// committed does not exist yet.
import { MandateError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { ledgerError } from './ledger-error.ts';
import {
  consistencyProof, encodeEntryBundle, inclusionProof, parseTilePath, readTile, tileWidth, treeHashAt, type HashReader, type ParsedTilePath,
} from './merkle/index.ts';

/** The store's tree hashes as the Merkle library reads them. */
export const ledgerHashes = (store: Pick<Store, 'readAuditHashes'>): HashReader => ({ readHashes: (positions) => store.readAuditHashes(positions) });

export interface InclusionAnswer {
  seq: number;
  leafIndex: number;
  treeSize: number;
  leafHash: Uint8Array;
  proof: Uint8Array[];
  rootHash: Uint8Array;
}

/** The inclusion proof of event `seq` in the tree of `treeSize` (which must hold it). */
export async function proveInclusion(store: Store, seq: number, treeSize: number): Promise<InclusionAnswer> {
  const event = await store.getAuditEvent(seq);
  if (!event) throw new MandateError('event_not_found', `there is no audit event ${seq}`, { status: 404 });
  const head = await store.auditTreeHead();
  if (treeSize > head.size) throw ledgerError('tree_size_invalid', `the log holds ${head.size} events, not ${treeSize}`);
  const reader = ledgerHashes(store);
  const leafIndex = seq - 1;
  return {
    seq, leafIndex, treeSize, leafHash: new Uint8Array(Buffer.from(event.hash, 'hex')),
    proof: await inclusionProof(reader, leafIndex, treeSize),
    rootHash: treeSize === head.size ? head.rootHash : await treeHashAt(reader, treeSize),
  };
}

export interface ConsistencyAnswer {
  oldSize: number;
  newSize: number;
  oldRoot: Uint8Array;
  newRoot: Uint8Array;
  proof: Uint8Array[];
}

export async function proveConsistency(store: Store, oldSize: number, newSize: number): Promise<ConsistencyAnswer> {
  const head = await store.auditTreeHead();
  if (newSize > head.size) throw ledgerError('tree_size_invalid', `the log holds ${head.size} events, not ${newSize}`);
  const reader = ledgerHashes(store);
  const proof = await consistencyProof(reader, oldSize, newSize);
  return { oldSize, newSize, proof, oldRoot: await treeHashAt(reader, oldSize), newRoot: newSize === head.size ? head.rootHash : await treeHashAt(reader, newSize) };
}

/** A tile or an entry bundle by its tlog-tiles path (`tile/…`); 404 when the committed tree does not have it. */
export async function readTileResource(store: Store, path: string): Promise<{ data: Uint8Array; full: boolean }> {
  const tile: ParsedTilePath = parseTilePath(path);
  const { size } = await store.auditTreeHead();
  const level = tile.kind === 'entries' ? 0 : tile.level;
  if (tileWidth(size, level, tile.index) < tile.width) {
    throw new MandateError('tile_not_found', `the log (${size} events) has no ${path} yet`, { status: 404 });
  }
  const full = tile.width === 256;
  if (tile.kind === 'tile') return { data: await readTile(ledgerHashes(store), tile), full };
  const start = tile.index * 256;
  const entries = await store.readAuditEntries(start, start + tile.width);
  return { data: encodeEntryBundle(entries.map((e) => new Uint8Array(Buffer.from(e, 'utf8')))), full };
}
