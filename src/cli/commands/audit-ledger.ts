// The verifiable side of `mandate audit`: verify a whole log (the local store, or an
// export file) offline against the log's key; export it; prove one event's inclusion
// or the consistency of two tree sizes; explain one event.
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { AUDIT_VERIFIER_KEY_FILE } from '../../audit/audit-key.ts';
import { explainLines, findDecision, findResult, type InclusionStatus } from '../../audit/explain.ts';
import { fileLedgerSource, storeLedgerSource, writeLedgerExport } from '../../audit/ledger-export.ts';
import { openCheckpoint, verifyConsistency, verifyInclusion } from '../../audit/merkle/index.ts';
import { parseVerifierKey } from '../../audit/note/index.ts';
import type { StoredAuditEvent } from '../../audit/event.ts';
import { writeOcsf } from '../../audit/ocsf.ts';
import { verifyLedger, type VerifyReport } from '../../audit/verify.ts';
import type { Config } from '../../config.ts';
import { MandateError } from '../../errors.ts';
import { openStore } from '../../store/open.ts';
import type { Store } from '../../store/types.ts';
import { VERSION } from '../../version.ts';
import { optional, positional } from '../args.ts';
import type { Command, CommandContext } from '../context.ts';
import { openLedgerAccess, type LedgerAccess } from '../ledger-access.ts';

/** --key, --key-file, or the data directory's audit.vkey. */
async function verifierKeyOf(parsed: { values: Record<string, unknown> }, config: Config): Promise<{ key: string; from: string }> {
  const given = parsed.values.key as string | undefined;
  if (given) return { key: given.trim(), from: '--key' };
  const file = (parsed.values['key-file'] as string | undefined) ?? join(config.dataDir, AUDIT_VERIFIER_KEY_FILE);
  try {
    return { key: (await readFile(file, 'utf8')).trim(), from: file };
  } catch {
    throw new MandateError('usage', `no verifier key: give --key <name+id+key> or --key-file FILE (${file} does not exist)`);
  }
}

const wholeNumber = (value: string, what: string): number => {
  if (!/^\d+$/.test(value)) throw new MandateError('usage', `${what} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
};

function describeReport(report: VerifyReport, keyFrom: string): string[] {
  const lines = [`${report.source}: log ${report.origin}, ${report.entries} events, ${report.checkpoints} checkpoints (key from ${keyFrom})`];
  if (report.ok) {
    lines.push(`ok: every event hashes into the tree; every checkpoint is signed by the log's key and matches the events up to its size (largest: ${report.verifiedSize})`);
    lines.push(report.consistencyProofs > 0 ? `ok: ${report.consistencyProofs} consistency proofs between successive checkpoints verify from the stored tree hashes` : 'ok: the checkpoints are all roots of prefixes of these events, so they are consistent with each other');
    return lines;
  }
  const [first] = report.problems;
  lines.push(`FAILED: ${(first as VerifyReport['problems'][number]).message}`);
  for (const p of report.problems.slice(1)) lines.push(`  also: ${p.message}`);
  return lines;
}

/** The proof of an event's inclusion, checked against a checkpoint signed by the log's key. */
async function inclusionStatus(access: LedgerAccess, seq: number, size?: number): Promise<InclusionStatus & { proof?: Awaited<ReturnType<LedgerAccess['inclusion']>> }> {
  let proof;
  try {
    proof = await access.inclusion(seq, size);
  } catch (error) {
    return { status: 'unavailable', message: (error as Error).message };
  }
  if (!proof.checkpoint) return { status: 'unavailable', treeSize: proof.treeSize, proof, message: `no signed checkpoint of size ${proof.treeSize} to check the proof against` };
  try {
    const vkey = await access.verifierKey();
    const verifier = parseVerifierKey(vkey);
    const { checkpoint } = openCheckpoint(proof.checkpoint, { origin: verifier.name, verifiers: [verifier] });
    if (checkpoint.size !== proof.treeSize) throw new Error(`the checkpoint is of size ${checkpoint.size}, the proof of ${proof.treeSize}`);
    verifyInclusion({ leafIndex: proof.leafIndex, treeSize: proof.treeSize, leafHash: proof.leafHash, proof: proof.proof, rootHash: checkpoint.rootHash });
    return { status: 'verified', treeSize: proof.treeSize, proof, message: `in the log: its inclusion proof (${proof.proof.length} hashes) leads to the root of the checkpoint of size ${proof.treeSize}, signed by ${verifier.name}` };
  } catch (error) {
    return { status: 'failed', treeSize: proof.treeSize, proof, message: `the inclusion proof does not verify: ${(error as Error).message}` };
  }
}

const b64 = (hash: Uint8Array): string => Buffer.from(hash).toString('base64');

export const auditLedgerCommands: Command[] = [
  {
    words: ['audit', 'verify'], usage: 'mandate audit verify [--file EXPORT] [--key VKEY | --key-file FILE]',
    summary: 'check the whole audit log offline against the log\'s key: every event, every checkpoint, consistency between them',
    options: { file: { type: 'string' }, key: { type: 'string' }, 'key-file': { type: 'string' } },
    run: async (parsed, { config, out }) => {
      const { key, from } = await verifierKeyOf(parsed, config);
      const file = optional(parsed, 'file');
      let report: VerifyReport;
      if (file) {
        report = await verifyLedger(await fileLedgerSource(file), key);
      } else {
        const store = await openStore(config);
        try {
          report = await verifyLedger(await storeLedgerSource(store, `the store in ${config.dataDir}`), key);
        } finally {
          await store.close();
        }
      }
      if (out.json) out.record({ ...report });
      else describeReport(report, from).forEach((line) => out.note(line));
      if (!report.ok) {
        const first = report.problems[0] as VerifyReport['problems'][number];
        throw new MandateError(`audit_${first.code}`, first.message);
      }
    },
  },
  {
    words: ['audit', 'export'], usage: 'mandate audit export [--format ledger|ocsf] [--out FILE]',
    summary: 'write the audit log as JSON lines: the verifiable ledger (entries and checkpoints), or OCSF records',
    options: { format: { type: 'string' }, out: { type: 'string' } },
    run: async (parsed, ctx) => exportLog(parsed, ctx),
  },
  {
    words: ['audit', 'proof'], usage: 'mandate audit proof <seq> [--size N] | mandate audit proof --from M [--to N]',
    summary: 'an inclusion proof for one event, or a consistency proof between two tree sizes, checked against the signed checkpoints',
    options: { size: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
    run: async (parsed, { config, api, out }) => {
      const access = await openLedgerAccess(config, api);
      try {
        const fromSize = optional(parsed, 'from');
        if (fromSize !== undefined) {
          const to = optional(parsed, 'to');
          const proof = await access.consistency(wholeNumber(fromSize, '--from'), to === undefined ? undefined : wholeNumber(to, '--to'));
          const vkey = parseVerifierKey(await access.verifierKey());
          const open = (note: string | null, size: number) => {
            if (!note) throw new MandateError('checkpoint_missing', `no signed checkpoint of size ${size}: a consistency proof is checked between two signed checkpoints`);
            return openCheckpoint(note, { origin: vkey.name, verifiers: [vkey] }).checkpoint;
          };
          const [oldHead, newHead] = [open(proof.checkpoints.old, proof.oldSize), open(proof.checkpoints.new, proof.newSize)];
          verifyConsistency({ oldSize: proof.oldSize, newSize: proof.newSize, proof: proof.proof, oldRoot: oldHead.rootHash, newRoot: newHead.rootHash });
          const record = { old_size: proof.oldSize, new_size: proof.newSize, hashes: proof.proof.map(b64), verified: true };
          if (out.json) out.record(record);
          else {
            out.note(`consistency ${proof.oldSize} → ${proof.newSize}: verified between the two signed checkpoints (${proof.proof.length} hashes, from ${access.source})`);
            proof.proof.forEach((h) => out.note(`  ${b64(h)}`));
          }
          return;
        }
        const seq = wholeNumber(positional(parsed, 0, 'an event sequence number'), 'the event');
        const size = optional(parsed, 'size');
        const status = await inclusionStatus(access, seq, size === undefined ? undefined : wholeNumber(size, '--size'));
        if (status.status !== 'verified') throw new MandateError(status.status === 'failed' ? 'proof_invalid' : 'proof_unavailable', status.message);
        const proof = status.proof as NonNullable<typeof status.proof>;
        if (out.json) out.record({ seq, leaf_index: proof.leafIndex, tree_size: proof.treeSize, leaf_hash: b64(proof.leafHash), hashes: proof.proof.map(b64), checkpoint: proof.checkpoint, verified: true });
        else {
          out.note(`event ${seq}: ${status.message} (from ${access.source})`);
          out.note(`  leaf hash ${b64(proof.leafHash)}`);
          proof.proof.forEach((h) => out.note(`  ${b64(h)}`));
        }
      } finally {
        await access.close();
      }
    },
  },
  {
    words: ['audit', 'explain'], usage: 'mandate audit explain <seq>',
    summary: 'one event told in full: who asked, which agent chain, what with which arguments, which policies decided, the outcome, the proof',
    run: async (parsed, { config, api, out }) => {
      const seq = wholeNumber(positional(parsed, 0, 'an event sequence number'), 'the event');
      const access = await openLedgerAccess(config, api);
      try {
        const event = await access.event(seq);
        if (!event) throw new MandateError('event_not_found', `there is no audit event ${seq} in ${access.source}`);
        const near = event.kind === 'result' ? await access.events(Math.max(0, seq - 500), Math.min(500, seq - 1)) : await access.events(seq, 500);
        const decision = event.kind === 'result' ? findDecision(event, near) : null;
        const result = event.kind === 'decision' && event.decision === 'allow' ? findResult(event, near) : null;
        const { proof: _proof, ...inclusion } = await inclusionStatus(access, seq);
        if (out.json) out.record({ event, decision, result, inclusion });
        else explainLines({ event, decision, result, inclusion }).forEach((line) => out.note(line));
      } finally {
        await access.close();
      }
    },
  },
];

async function exportLog(parsed: { values: Record<string, unknown> }, { config, out }: CommandContext): Promise<void> {
  const format = (parsed.values.format as string | undefined) ?? 'ledger';
  if (format !== 'ledger' && format !== 'ocsf') throw new MandateError('usage', `--format is ledger or ocsf, not ${JSON.stringify(format)}`);
  const file = parsed.values.out as string | undefined;
  const stream = file ? createWriteStream(file, { flags: 'wx', mode: 0o600 }) : process.stdout;
  const write = (line: string): Promise<void> | void => {
    if (!stream.write(`${line}\n`)) return new Promise((resolve) => stream.once('drain', () => resolve()));
  };
  const store = await openStore(config);
  try {
    const vkey = (await readFile(join(config.dataDir, AUDIT_VERIFIER_KEY_FILE), 'utf8')).trim();
    const written = format === 'ledger'
      ? await writeLedgerExport(store, { origin: parseVerifierKey(vkey).name, verifierKey: vkey }, write)
      : { entries: await writeOcsfExport(store, parseVerifierKey(vkey).name, write), checkpoints: 0 };
    if (file) {
      stream.end();
      await finished(stream);
      if (!out.json) out.note(`wrote ${written.entries} events${format === 'ledger' ? ` and ${written.checkpoints} checkpoints` : ' as OCSF records'} to ${file}`);
    }
  } finally {
    await store.close();
  }
}

/** Every event as one OCSF record per line ([ocsf.md](docs/ocsf.md)). */
async function writeOcsfExport(store: Store, origin: string, write: (line: string) => Promise<void> | void): Promise<number> {
  async function* events(): AsyncGenerator<StoredAuditEvent> {
    for (let after = 0; ;) {
      const page = await store.listAuditEvents({ afterSeq: after, limit: 1000 });
      yield* page;
      if (page.length < 1000) return;
      after = (page[page.length - 1] as StoredAuditEvent).seq;
    }
  }
  return writeOcsf(events(), { productVersion: VERSION, origin }, write);
}
