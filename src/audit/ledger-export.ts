// The audit ledger as a file an auditor can take away and verify offline
// (`mandate audit export --format ledger`, `mandate audit verify --file`): JSON lines,
// first a header naming the log, then every entry with its sequence number — the
// entry as the exact text its leaf hash covers — then every signed checkpoint.
//
//   {"format":"mandate-audit-ledger/1","origin":"…","verifier_key":"…","entries":N}
//   {"seq":1,"entry":"{…}"}
//   …
//   {"checkpoint":"<signed note>"}
//
// The header's key is informational: a verifier checks against the key it was given.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { MandateError } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { ledgerHashes } from './ledger-reader.ts';
import type { LedgerRecord, LedgerSource } from './verify.ts';

export const EXPORT_FORMAT = 'mandate-audit-ledger/1';
const PAGE = 1000;

/** The raw ledger rows of the store, in order, up to seq `upTo`. */
async function* storeRecords(store: Store, upTo = Number.MAX_SAFE_INTEGER): AsyncGenerator<LedgerRecord> {
  for (let after = 0; ;) {
    const page = await store.listAuditRecords({ afterSeq: after, limit: PAGE });
    for (const record of page) {
      if (record.seq > upTo) return;
      yield record;
    }
    if (page.length < PAGE) return;
    after = (page[page.length - 1] as LedgerRecord).seq;
  }
}

async function allCheckpoints(store: Store, upTo = Number.MAX_SAFE_INTEGER): Promise<string[]> {
  const notes: string[] = [];
  for (let after = -1; ;) {
    const page = await store.listAuditCheckpoints({ afterSize: after, limit: PAGE });
    notes.push(...page.filter((c) => c.size <= upTo).map((c) => c.note));
    if (page.length < PAGE) return notes;
    after = (page[page.length - 1] as { size: number }).size;
  }
}

/**
 * The store as a source to verify: its rows, its checkpoints, its stored tree hashes and
 * tree state — as of the tree state read first, so a log that a running server goes on
 * appending to is verified as it stood then.
 */
export async function storeLedgerSource(store: Store, description: string): Promise<LedgerSource> {
  const treeSize = await store.auditTreeStateSize();
  const upTo = treeSize ?? Number.MAX_SAFE_INTEGER;
  return { description, records: () => storeRecords(store, upTo), checkpoints: () => allCheckpoints(store, upTo), treeSize, hashes: ledgerHashes(store) };
}

/** Writes the whole ledger as an export, line by line. */
export async function writeLedgerExport(store: Store, header: { origin: string; verifierKey: string }, write: (line: string) => Promise<void> | void): Promise<{ entries: number; checkpoints: number }> {
  await write(JSON.stringify({ format: EXPORT_FORMAT, origin: header.origin, verifier_key: header.verifierKey, entries: (await store.auditTreeStateSize()) ?? 0 }));
  let entries = 0;
  for await (const { seq, entry } of storeRecords(store)) {
    await write(JSON.stringify({ seq, entry }));
    entries++;
  }
  const checkpoints = await allCheckpoints(store);
  for (const checkpoint of checkpoints) await write(JSON.stringify({ checkpoint }));
  return { entries, checkpoints: checkpoints.length };
}

interface ExportLine {
  format?: unknown;
  seq?: unknown;
  entry?: unknown;
  checkpoint?: unknown;
}

/** The lines of an export file, parsed; lines that are not the format's are refused with their number. */
async function* exportLines(path: string): AsyncGenerator<{ number: number; line: ExportLine }> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const text of lines) {
      number++;
      if (text.trim() === '') continue;
      let line: ExportLine;
      try {
        line = JSON.parse(text) as ExportLine;
      } catch {
        throw new MandateError('export_malformed', `${path}:${number}: not a JSON line`);
      }
      if (number === 1 && line.format !== EXPORT_FORMAT) throw new MandateError('export_malformed', `${path}:1: not a ${EXPORT_FORMAT} export (its first line names no such format)`);
      if (number > 1 && typeof line.checkpoint !== 'string' && !(typeof line.seq === 'number' && Number.isSafeInteger(line.seq) && typeof line.entry === 'string')) {
        throw new MandateError('export_malformed', `${path}:${number}: neither an entry ({"seq","entry"}) nor a checkpoint`);
      }
      yield { number, line };
    }
  } catch (error) {
    if (error instanceof MandateError) throw error;
    throw new MandateError('export_unreadable', `cannot read ${path}: ${(error as Error).message}`);
  } finally {
    lines.close();
  }
  if (number === 0) throw new MandateError('export_malformed', `${path} is empty`);
}

/** An export file as a source to verify, read twice (checkpoints, then entries) rather than held in memory. */
export async function fileLedgerSource(path: string): Promise<LedgerSource & { header: { origin: string; verifierKey: string } }> {
  let header: { origin: string; verifierKey: string } | null = null;
  const checkpoints: string[] = [];
  for await (const { number, line } of exportLines(path)) {
    if (number === 1) {
      const { origin, verifier_key: verifierKey } = line as { origin?: unknown; verifier_key?: unknown };
      header = { origin: String(origin), verifierKey: String(verifierKey) };
    } else if (typeof line.checkpoint === 'string') checkpoints.push(line.checkpoint);
  }
  return {
    description: path, header: header as NonNullable<typeof header>,
    records: async function* () {
      for await (const { number, line } of exportLines(path)) if (number > 1 && typeof line.entry === 'string') yield { seq: line.seq as number, entry: line.entry };
    },
    checkpoints: async () => checkpoints,
  };
}
