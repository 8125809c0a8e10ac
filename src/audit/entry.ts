// One audit event as a leaf of the Merkle log: the event as JSON with its sequence
// number first, exactly the bytes the store keeps, the entry bundles serve and the
// leaf hash covers. With the number inside, an event moved to another place, or a
// renumbered log after a deletion, no longer matches where it stands.
//
// The entry is not canonicalised (sorted keys) — nobody serialises an event again to
// check it: verifiers hash the stored bytes (docs/audit-ledger.md) — and plain
// JSON.stringify is about three times cheaper on an event of a few kilobytes, twice
// per governed call.
//
// An entry bundle holds entries of at most 65,535 bytes (c2sp.org/tlog-tiles). The
// parts of an event that can grow with the caller's input — the Cedar request it was
// decided on, the redacted copy of the arguments — are left out of an event that
// would be longer, and the entry says which (`omitted`); the arguments' digest stays.
import { createHash } from 'node:crypto';
import type { AuditEvent } from './event.ts';
import { MAX_ENTRY_SIZE } from './merkle/entry-bundle.ts';

const LEAF_PREFIX = new Uint8Array([0x00]);

/** The parts left out of an event too long for one entry, in the order they go. */
const OMITTABLE = ['request', 'arguments', 'shadow'] as const;

/** The ledger entry of event number `seq` (from 1). */
export function ledgerEntry(seq: number, event: AuditEvent): string {
  let record: Record<string, unknown> = { seq, ...event };
  let entry = JSON.stringify(record);
  const omitted: string[] = [];
  for (const part of OMITTABLE) {
    if (Buffer.byteLength(entry) <= MAX_ENTRY_SIZE) return entry;
    if (record[part] === undefined) continue;
    omitted.push(part);
    const { [part]: _dropped, ...rest } = record;
    record = { ...rest, omitted: [...omitted] };
    entry = JSON.stringify(record);
  }
  if (Buffer.byteLength(entry) > MAX_ENTRY_SIZE) {
    // Only the fixed fields are left, and they are still too long (a huge purpose or tool name).
    entry = JSON.stringify({ ...record, purpose: truncated(event.purpose), tool: truncated(event.tool), omitted: [...omitted, 'long_fields'] });
  }
  return entry;
}

const truncated = (text: string | null): string | null => (text === null || text.length <= 1024 ? text : `${text.slice(0, 1024)}… [${text.length} characters]`);

/** RFC 9162 leaf hash of an entry given as text: SHA-256(0x00 || UTF-8 bytes). */
export const entryLeafHash = (entry: string): Buffer => createHash('sha256').update(LEAF_PREFIX).update(entry, 'utf8').digest();
