// c2sp.org/tlog-tiles entry bundles: the entries of one level-0 tile, each prefixed
// with its length as a big-endian uint16. Each entry hashes (RFC 9162 leaf hash) to
// the hash at the same position of the level-0 tile.
import { ledgerError } from '../ledger-error.ts';
import { equalHashes, leafHash } from './hash.ts';
import { TILE_WIDTH } from './hash-store.ts';
import { tileHashes } from './tile.ts';

export const MAX_ENTRY_SIZE = 0xffff;

export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length === 0 || entries.length > TILE_WIDTH) throw ledgerError('entry_bundle_malformed', `an entry bundle holds 1–${TILE_WIDTH} entries, not ${entries.length}`);
  let size = 0;
  entries.forEach((entry, i) => {
    if (entry.length > MAX_ENTRY_SIZE) throw ledgerError('entry_too_large', `entry ${i} of the bundle is ${entry.length} bytes; an entry bundle holds entries of at most ${MAX_ENTRY_SIZE}`);
    size += 2 + entry.length;
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const entry of entries) {
    view.setUint16(at, entry.length);
    out.set(entry, at + 2);
    at += 2 + entry.length;
  }
  return out;
}

export function decodeEntryBundle(data: Uint8Array): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const entries: Uint8Array[] = [];
  for (let at = 0; at < data.length; ) {
    if (entries.length === TILE_WIDTH) throw ledgerError('entry_bundle_malformed', `entry bundle holds more than ${TILE_WIDTH} entries`);
    if (at + 2 > data.length) throw ledgerError('entry_bundle_malformed', `entry bundle ends inside the length of entry ${entries.length}`);
    const length = view.getUint16(at);
    if (at + 2 + length > data.length) throw ledgerError('entry_bundle_malformed', `entry ${entries.length} of the bundle claims ${length} bytes, ${data.length - at - 2} remain`);
    entries.push(data.slice(at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (entries.length === 0) throw ledgerError('entry_bundle_malformed', 'entry bundle is empty');
  return entries;
}

/** Checks that a bundle's entries are, one for one, the leaves of its level-0 tile. */
export function verifyEntryBundle(bundle: Uint8Array, tile: Uint8Array): Uint8Array[] {
  const entries = decodeEntryBundle(bundle);
  const hashes = tileHashes(tile);
  if (entries.length !== hashes.length) throw ledgerError('entry_bundle_malformed', `entry bundle holds ${entries.length} entries, its tile ${hashes.length} hashes`);
  entries.forEach((entry, i) => {
    if (!equalHashes(leafHash(entry), hashes[i] as Uint8Array)) throw ledgerError('entry_bundle_malformed', `entry ${i} of the bundle does not hash to hash ${i} of its tile`);
  });
  return entries;
}
