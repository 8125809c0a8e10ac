// The policy store: the `.cedar` files of one directory (what GitOps deploys) are the
// active set, and changes through the API are written there too. Every candidate —
// a changed directory, a file put or deleted through the API — is validated whole
// before it is activated; an invalid one is refused with the file, line and column
// of each problem and the last good set stays active. Activation swaps the engine
// in one assignment: a decision already asking the old engine finishes with it.
//
// The directory is watched (debounced, so an editor's write-then-rename or a git
// checkout is read once it has settled) and, as a safety net where file events are
// not delivered (some network and container mounts), polled for changed names,
// sizes and times. Changes are applied one at a time.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MandateError, notFound } from '../errors.ts';
import { PolicyEngine } from './engine.ts';
import { PolicySet, type PolicyCheck, type PolicySource, type SchemaSource } from './policy-set.ts';
import { PolicyInvalidError, formatProblem, problemAt, type PolicyProblem } from './problems.ts';

/** A name the API writes: a plain `.cedar` name in the directory itself (no path, not hidden). */
export const POLICY_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,122}\.cedar$/;

/** What the directory holds as policies: every `.cedar` file but hidden ones (editors' swap and lock files, temporary files). */
const isPolicyFile = (name: string): boolean => name.endsWith('.cedar') && !name.startsWith('.');
/** Largest policy file accepted through the API. */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;

export function checkPolicyFileName(file: string): void {
  if (!POLICY_FILE.test(file)) {
    throw new MandateError('invalid_policy_file', `"${file}" is not a policy file name: use letters, digits, ".", "_" and "-", ending in .cedar (no directories, not hidden)`);
  }
}

const stable = (a: { size: number; mtimeMs: number }, b: { size: number; mtimeMs: number }): boolean => a.size === b.size && a.mtimeMs === b.mtimeMs;

/** A file that changed or vanished while it was read: read the directory again shortly. */
class Unsettled extends Error {}

/**
 * The `.cedar` files of a directory, by name. Symbolic links are followed (a
 * Kubernetes ConfigMap mounts its files so); hidden files, editors' lock and swap
 * files and subdirectories are not policy files. A file that changes while it is
 * read throws Unsettled rather than yield a half-written set.
 */
export async function readPolicyDirectory(dir: string): Promise<PolicySource[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter(isPolicyFile).sort();
  } catch (error) {
    throw new MandateError('policies_missing', `no policy directory at ${dir}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'run `mandate init`' : (error as Error).message}`, { status: 503 });
  }
  const sources: PolicySource[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const before = await stat(path);
      if (!before.isFile()) continue;
      const text = await readFile(path, 'utf8');
      if (!stable(before, await stat(path))) throw new Unsettled(`${name} changed while it was read`);
      sources.push({ origin: name, text });
    } catch (error) {
      if (error instanceof Unsettled) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new Unsettled(`${name} vanished while it was read`);
      throw new PolicyInvalidError([problemAt({ file: name, text: '' }, 0, 0, `cannot read the file: ${(error as Error).message}`)]);
    }
  }
  return sources;
}

/** Names, sizes and modification times: what changes when any policy file does. */
async function fingerprint(dir: string): Promise<string> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter(isPolicyFile).sort();
  const parts = await Promise.all(names.map(async (name) => {
    const s = await stat(join(dir, name)).catch(() => null);
    return s ? `${name}:${s.size}:${s.mtimeMs}` : `${name}:?`;
  }));
  return parts.join('\n');
}

export interface ReloadStatus {
  /** Milliseconds since the epoch. */
  at: number;
  trigger: string;
  ok: boolean;
  /** The active set's hash after this reload (the old one when refused). */
  hash: string;
  changed: boolean;
  problems: PolicyProblem[];
}

export interface PolicyStoreOptions {
  schema: SchemaSource;
  /** Quiet time after the last file event before the directory is read (ms). */
  debounceMs?: number;
  /** How often the directory is compared with what was last read, in case a file event was missed (ms; 0: never). */
  pollMs?: number;
  log?: (line: string) => void;
}

export interface ActiveFile {
  file: string;
  text: string;
}

export class PolicyStore {
  readonly dir: string;
  readonly #schema: SchemaSource;
  readonly #debounceMs: number;
  readonly #pollMs: number;
  readonly #log: (line: string) => void;
  #engine: PolicyEngine;
  #files: PolicySource[];
  #loadedAt: number;
  #lastReload: ReloadStatus | null = null;
  #changes: Promise<unknown> = Promise.resolve();
  #watcher: FSWatcher | null = null;
  #debounce: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  #seen = '';
  #closed = false;

  private constructor(dir: string, options: PolicyStoreOptions, engine: PolicyEngine, files: PolicySource[]) {
    this.dir = dir;
    this.#schema = options.schema;
    this.#debounceMs = options.debounceMs ?? 200;
    this.#pollMs = options.pollMs ?? 10_000;
    this.#log = options.log ?? ((line) => console.error(`mandate: ${line}`));
    this.#engine = engine;
    this.#files = files;
    this.#loadedAt = Date.now();
  }

  /** Reads and validates the directory; throws (naming every problem) when its set is invalid. */
  static async open(dir: string, options: PolicyStoreOptions): Promise<PolicyStore> {
    let files: PolicySource[] | undefined;
    for (let attempt = 0; !files; attempt++) {
      try {
        files = await readPolicyDirectory(dir);
      } catch (error) {
        if (!(error instanceof Unsettled) || attempt >= 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const store = new PolicyStore(dir, options, new PolicyEngine(PolicySet.load(files, options.schema)), files);
    store.#seen = await fingerprint(dir);
    return store;
  }

  /** The active engine. Read it once per decision. */
  get engine(): PolicyEngine {
    return this.#engine;
  }

  /** The active set's files as they were when it was activated. */
  get files(): readonly ActiveFile[] {
    return this.#files.map((s) => ({ file: s.origin, text: s.text }));
  }

  get loadedAt(): number {
    return this.#loadedAt;
  }

  get lastReload(): ReloadStatus | null {
    return this.#lastReload;
  }

  /** Validates a candidate set against the schema, activating nothing. */
  check(sources: readonly PolicySource[]): PolicyCheck {
    return PolicySet.check(sources, this.#schema);
  }

  /**
   * Reads the directory again and activates its set when valid and different; an
   * invalid set is logged with its positions and refused, the old one staying active.
   */
  reload(trigger: string): Promise<ReloadStatus> {
    return this.#serially(async () => {
      let sources: PolicySource[] | undefined;
      for (let attempt = 0; !sources; attempt++) {
        try {
          sources = await readPolicyDirectory(this.dir);
        } catch (error) {
          if (error instanceof Unsettled && attempt < 10) {
            await new Promise((resolve) => setTimeout(resolve, this.#debounceMs));
            continue;
          }
          this.#seen = await fingerprint(this.dir);
          return this.#refused(trigger, error instanceof PolicyInvalidError ? [...error.problems] : [problemAt({ file: '.', text: '' }, 0, 0, (error as Error).message)]);
        }
      }
      this.#seen = await fingerprint(this.dir);
      const checked = this.check(sources);
      if (!checked.ok) return this.#refused(trigger, checked.problems);
      return this.#activate(trigger, checked.set, sources);
    });
  }

  /**
   * Writes one file — only once the set with it validates. Refused: nothing is
   * written, the file keeps its old content (or stays absent), the set stays active.
   */
  async put(file: string, text: string): Promise<{ status: ReloadStatus; created: boolean }> {
    checkPolicyFileName(file);
    if (Buffer.byteLength(text) > MAX_POLICY_FILE_BYTES) throw new MandateError('policy_too_large', `a policy file may be at most ${MAX_POLICY_FILE_BYTES} bytes`, { status: 413 });
    return this.#serially(async () => {
      const current = await this.#readForChange();
      const created = !current.some((s) => s.origin === file);
      const candidate = [...current.filter((s) => s.origin !== file), { origin: file, text }].sort((a, b) => (a.origin < b.origin ? -1 : 1));
      const checked = this.check(candidate);
      if (!checked.ok) throw new PolicyInvalidError(checked.problems, `the policy set with ${file}`);
      // Written beside it under a name no reader takes for a policy file, then renamed over it: readers see the old file or the new one.
      const temporary = join(this.dir, `.${file}.${process.pid}.${Date.now()}.tmp`);
      try {
        await writeFile(temporary, text, { mode: 0o600, flag: 'wx' });
        await rename(temporary, join(this.dir, file));
      } catch (error) {
        await rm(temporary, { force: true });
        throw new MandateError('policy_write_failed', `could not write ${file}: ${(error as Error).message}`, { status: 500 });
      }
      const status = this.#activate('api', checked.set, candidate);
      this.#seen = await fingerprint(this.dir);
      return { status, created };
    });
  }

  /** Deletes one file, once the set without it validates. */
  async remove(file: string): Promise<ReloadStatus> {
    checkPolicyFileName(file);
    return this.#serially(async () => {
      const current = await this.#readForChange();
      if (!current.some((s) => s.origin === file)) throw notFound('policy_file_not_found', `no policy file ${file}`);
      const candidate = current.filter((s) => s.origin !== file);
      const checked = this.check(candidate);
      if (!checked.ok) throw new PolicyInvalidError(checked.problems, `the policy set without ${file}`);
      try {
        await rm(join(this.dir, file));
      } catch (error) {
        throw new MandateError('policy_write_failed', `could not delete ${file}: ${(error as Error).message}`, { status: 500 });
      }
      const status = this.#activate('api', checked.set, candidate);
      this.#seen = await fingerprint(this.dir);
      return status;
    });
  }

  /** Starts watching the directory; changes are reloaded after `debounceMs` of quiet. */
  watch(): void {
    if (this.#closed || this.#watcher) return;
    try {
      // Any event counts, whatever its name: a ConfigMap swaps a hidden `..data` link, an editor renames a temporary file.
      this.#watcher = watch(this.dir, { persistent: false }, () => this.#changed());
      this.#watcher.on('error', (error) => {
        this.#log(`watching ${this.dir} failed (${error.message}); checking it every ${this.#pollMs / 1000}s instead`);
        this.#watcher?.close();
        this.#watcher = null;
      });
    } catch (error) {
      this.#log(`cannot watch ${this.dir} (${(error as Error).message}); checking it every ${this.#pollMs / 1000}s instead`);
    }
    if (this.#pollMs > 0 && !this.#poll) {
      this.#poll = setInterval(() => {
        void fingerprint(this.dir).then((now) => {
          if (now !== this.#seen) this.#changed();
          if (!this.#watcher && !this.#closed) this.watch();
        });
      }, this.#pollMs).unref();
    }
  }

  /** Stops watching and waits for a change in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#debounce) clearTimeout(this.#debounce);
    if (this.#poll) clearInterval(this.#poll);
    await this.#changes.catch(() => undefined);
  }

  #changed(): void {
    if (this.#closed) return;
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = null;
      void this.reload('watch');
    }, this.#debounceMs);
    this.#debounce.unref();
  }

  /** The directory as a change through the API finds it; a set that cannot be read refuses the change. */
  async #readForChange(): Promise<PolicySource[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await readPolicyDirectory(this.dir);
      } catch (error) {
        if (!(error instanceof Unsettled) || attempt >= 10) throw error;
        await new Promise((resolve) => setTimeout(resolve, this.#debounceMs));
      }
    }
  }

  #activate(trigger: string, set: PolicySet, sources: PolicySource[]): ReloadStatus {
    const previous = this.#engine.hash;
    const changed = set.hash !== previous;
    if (changed) {
      // A set with the same hash keeps its engine, and with it the decisions it remembers.
      this.#engine = new PolicyEngine(set);
      this.#loadedAt = Date.now();
      this.#log(`policy set ${set.hash} active (${set.policies.length} policies, ${trigger}); was ${previous}`);
    }
    this.#files = sources;
    this.#lastReload = { at: Date.now(), trigger, ok: true, hash: set.hash, changed, problems: [] };
    return this.#lastReload;
  }

  #refused(trigger: string, problems: PolicyProblem[]): ReloadStatus {
    this.#log(`policy reload (${trigger}) refused, ${this.#engine.hash} stays active:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
    this.#lastReload = { at: Date.now(), trigger, ok: false, hash: this.#engine.hash, changed: false, problems };
    return this.#lastReload;
  }

  #serially<T>(change: () => Promise<T>): Promise<T> {
    const next = this.#changes.then(change, change);
    this.#changes = next.catch(() => undefined);
    return next;
  }
}
