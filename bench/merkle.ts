// The verifiable audit ledger's Merkle core at 1,000,000 entries, in one process with
// the in-memory hash store:
//   appends    entries hashed and appended to the incremental tree, the hashes it
//              answers stored in batches of 1,000 (as a group commit would), per second;
//              and the tree alone, appending leaf hashes computed beforehand
//   proofs     inclusion and consistency proofs generated from the hash store at the
//              full size (random leaves, random old sizes): median, p99 and worst
//   roots      the root at the full size recomputed from the store, and the right edge
//              rebuilt from it
// Proofs are bound by SHA-256: a node between tile levels is recomputed from up to 128
// stored hashes, so a proof reads (and hashes) a few hundred. The cost of one node
// hash on the same machine is measured too, to read the figures against.
//
//   node bin/run-ts.js bench/merkle.ts [--entries N] [--json]
import { pathToFileURL } from 'node:url';
import {
  IncrementalTree,
  MemoryHashStore,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  treeHashAt,
  verifyConsistency,
  verifyInclusion,
  type HashPosition,
  type HashReader,
  type StoredHash,
} from '../src/audit/merkle/index.ts';
import { fmt, median, percentile } from './stats.ts';

export interface MerkleBenchResult {
  entries: number;
  entryBytes: number;
  /** Entries hashed, appended and stored per second. */
  appendsPerSecond: number;
  /** Leaf hashes appended per second by the tree alone (no entry hashing, no store). */
  treeAppendsPerSecond: number;
  storedHashes: number;
  /** One SHA-256 node hash (65 bytes), in µs: the unit proof generation is made of. */
  nodeHashMicros: number;
  inclusion: { proofs: number; hashes: number; medianReads: number; medianMs: number; p99Ms: number; maxMs: number; verifyMedianMs: number };
  consistency: { proofs: number; medianHashes: number; medianReads: number; medianMs: number; p99Ms: number; maxMs: number; verifyMedianMs: number };
  rootFromStoreMs: number;
  rebuildEdgeMs: number;
}

const BATCH = 1000;
const ENTRY_BYTES = 256;

/** A deterministic stand-in for ledger entries: ENTRY_BYTES bytes, the index in the first eight. */
function entryAt(buffer: Uint8Array, view: DataView, i: number): Uint8Array {
  view.setFloat64(0, i);
  return buffer;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The store, counting the hashes each proof reads. */
function counting(store: HashReader): HashReader & { reads: number } {
  const reader = {
    reads: 0,
    readHashes(positions: readonly HashPosition[]): Promise<Uint8Array[]> {
      reader.reads += positions.length;
      return store.readHashes(positions);
    },
  };
  return reader;
}

function nodeHashMicros(): number {
  const a = leafHash(new Uint8Array(1));
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) nodeHash(a, a);
    rounds.push(((performance.now() - t0) / 20_000) * 1000);
  }
  return median(rounds);
}

async function timed<T>(fn: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

export async function merkleBench({ entries = 1_000_000, proofs = 200 }: { entries?: number; proofs?: number } = {}): Promise<MerkleBenchResult> {
  const store = new MemoryHashStore();
  const tree = IncrementalTree.empty();
  const buffer = new Uint8Array(ENTRY_BYTES).fill(0x61);
  const view = new DataView(buffer.buffer);
  let storedHashes = 0;

  const started = performance.now();
  let batch: StoredHash[] = [];
  for (let i = 0; i < entries; i++) {
    for (const hash of tree.appendEntry(entryAt(buffer, view, i))) batch.push({ ...hash, hash: new Uint8Array(hash.hash) });
    if (batch.length >= BATCH || i === entries - 1) {
      storedHashes += batch.length;
      await store.put(batch);
      batch = [];
    }
  }
  const appendsPerSecond = entries / ((performance.now() - started) / 1000);
  const root = tree.root();

  const treeOnly = Math.min(entries, 200_000);
  const leaves: Uint8Array[] = [];
  for (let i = 0; i < treeOnly; i++) leaves.push(leafHash(entryAt(buffer, view, i)));
  const bare = IncrementalTree.empty();
  const t0 = performance.now();
  for (const leaf of leaves) bare.append(leaf);
  const treeAppendsPerSecond = treeOnly / ((performance.now() - t0) / 1000);

  const random = rng(42);
  const reader = counting(store);
  const inclusionReads: number[] = [];
  const inclusionMs: number[] = [];
  const inclusionVerifyMs: number[] = [];
  let inclusionHashes = 0;
  for (let p = 0; p < proofs; p++) {
    const leafIndex = p === 0 ? 0 : p === 1 ? entries - 1 : Math.floor(random() * entries);
    reader.reads = 0;
    const { value: proof, ms } = await timed(() => inclusionProof(reader, leafIndex, entries));
    inclusionMs.push(ms);
    inclusionReads.push(reader.reads);
    inclusionHashes = Math.max(inclusionHashes, proof.length);
    const leaf = (await store.get(0, leafIndex)) as Uint8Array;
    inclusionVerifyMs.push((await timed(() => verifyInclusion({ leafIndex, treeSize: entries, leafHash: leaf, proof, rootHash: root }))).ms);
  }

  const consistencyMs: number[] = [];
  const consistencyVerifyMs: number[] = [];
  const consistencyHashes: number[] = [];
  const consistencyReads: number[] = [];
  for (let p = 0; p < proofs; p++) {
    const oldSize = p === 0 ? 1 : p === 1 ? entries - 1 : 1 + Math.floor(random() * (entries - 1));
    reader.reads = 0;
    const { value: proof, ms } = await timed(() => consistencyProof(reader, oldSize, entries));
    consistencyMs.push(ms);
    consistencyReads.push(reader.reads);
    consistencyHashes.push(proof.length);
    const oldRoot = await treeHashAt(store, oldSize);
    consistencyVerifyMs.push((await timed(() => verifyConsistency({ oldSize, newSize: entries, oldRoot, newRoot: root, proof }))).ms);
  }

  const { value: storedRoot, ms: rootFromStoreMs } = await timed(() => treeHashAt(store, entries));
  if (!Buffer.from(storedRoot).equals(root)) throw new Error('the root recomputed from the store differs from the incremental root');
  const { ms: rebuildEdgeMs } = await timed(() => IncrementalTree.fromStore(store, entries));

  return {
    entries,
    entryBytes: ENTRY_BYTES,
    appendsPerSecond,
    treeAppendsPerSecond,
    storedHashes,
    nodeHashMicros: nodeHashMicros(),
    inclusion: { proofs, hashes: inclusionHashes, medianReads: median(inclusionReads), medianMs: median(inclusionMs), p99Ms: percentile(inclusionMs, 99), maxMs: Math.max(...inclusionMs), verifyMedianMs: median(inclusionVerifyMs) },
    consistency: { proofs, medianHashes: median(consistencyHashes), medianReads: median(consistencyReads), medianMs: median(consistencyMs), p99Ms: percentile(consistencyMs, 99), maxMs: Math.max(...consistencyMs), verifyMedianMs: median(consistencyVerifyMs) },
    rootFromStoreMs,
    rebuildEdgeMs,
  };
}

export function printMerkle(r: MerkleBenchResult): void {
  console.log(`Merkle tree — ${fmt(r.entries)} entries of ${r.entryBytes} bytes, in-memory hash store`);
  console.log(`  appends (hash entry, append, store)  ${fmt(r.appendsPerSecond)} /s   (${fmt(r.storedHashes)} hashes stored, ${fmt(r.storedHashes / r.entries, 4)} per entry)`);
  console.log(`  appends (tree alone, leaf hashes)    ${fmt(r.treeAppendsPerSecond)} /s`);
  console.log(`  inclusion proof at ${fmt(r.entries)}         median ${fmt(r.inclusion.medianMs, 2)} ms   p99 ${fmt(r.inclusion.p99Ms, 2)} ms   max ${fmt(r.inclusion.maxMs, 2)} ms   (${r.inclusion.hashes} hashes from ${fmt(r.inclusion.medianReads)} stored; verify ${fmt(r.inclusion.verifyMedianMs, 3)} ms)`);
  console.log(`  consistency proof to ${fmt(r.entries)}       median ${fmt(r.consistency.medianMs, 2)} ms   p99 ${fmt(r.consistency.p99Ms, 2)} ms   max ${fmt(r.consistency.maxMs, 2)} ms   (${r.consistency.medianHashes} hashes from ${fmt(r.consistency.medianReads)} stored; verify ${fmt(r.consistency.verifyMedianMs, 3)} ms)`);
  console.log(`  one SHA-256 node hash                ${fmt(r.nodeHashMicros, 2)} µs on this machine`);
  console.log(`  root from the store                  ${fmt(r.rootFromStoreMs, 2)} ms;  right edge rebuilt ${fmt(r.rebuildEdgeMs, 2)} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--entries');
  const entries = at >= 0 ? Number(args[at + 1]) : undefined;
  if (entries !== undefined && !(Number.isSafeInteger(entries) && entries >= 2)) {
    console.error('--entries takes an integer of at least 2');
    process.exit(2);
  }
  const result = await merkleBench({ entries });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, merkle: result }, null, 2));
  else {
    console.log(`node ${process.version}`);
    printMerkle(result);
  }
}
