// `mandate credential …`: credentials for servers, sealed by the running Mandate. A
// secret is read from a file or from stdin, never from the command line (where it
// would stay in the shell's history and show in `ps`), and is never printed back.
// `rotate-kek --new-kek-file F` works on the store directly, as `mandate init` does:
// run it with Mandate stopped; without the flag it asks the running Mandate to
// rewrap under its current key (a staged rotation, docs/credentials.md).
import { readFile } from 'node:fs/promises';
import { rewrapAll } from '../../credentials/broker.ts';
import { loadKekRing, readKekFile, writeNewKekFile, type Kek } from '../../credentials/kek.ts';
import { MandateError } from '../../errors.ts';
import { nowSeconds } from '../../lib/clock.ts';
import { openStore } from '../../store/open.ts';
import { optional, positional, required, type Parsed } from '../args.ts';
import type { Command } from '../context.ts';

type CredentialAnswer = Record<string, unknown> & { inject: { header?: string; format?: string; env?: string } };

/** One trailing line break is the file's, not the secret's (`echo … > file`). */
const withoutFinalNewline = (text: string): string => text.replace(/\r?\n$/, '');

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The secret from --secret-file or --secret-stdin (exactly one). */
async function readSecret(parsed: Parsed): Promise<string> {
  const file = optional(parsed, 'secret-file');
  const stdin = parsed.values['secret-stdin'] === true;
  if ((file === undefined) === !stdin) throw new MandateError('usage', 'give the secret with exactly one of --secret-file FILE and --secret-stdin (never on the command line)');
  let text: string;
  try {
    text = file !== undefined ? await readFile(file, 'utf8') : await readStdin();
  } catch (error) {
    throw new MandateError('secret_unreadable', `cannot read the secret from ${file ?? 'stdin'}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return withoutFinalNewline(text);
}

const injectedAs = (c: CredentialAnswer): string => (c.inject.header !== undefined ? `header ${c.inject.header}: ${c.inject.format}` : `env ${c.inject.env}`);

const shown = (c: CredentialAnswer): Array<[string, unknown]> => [
  ['id', c.id], ['name', c.name], ['server', c.server], ['injected as', injectedAs(c)], ['kek id', c.kek_id],
  ['created', c.created_at], ['secret replaced', c.rotated_at ?? 'never'], ['rewrapped', c.rewrapped_at ?? 'never'],
];

const secretOptions = { 'secret-file': { type: 'string' }, 'secret-stdin': { type: 'boolean' } } as const;

export const credentialCommands: Command[] = [
  {
    words: ['credential', 'add'],
    usage: 'mandate credential add <name> --server S (--header NAME [--format "Bearer {secret}"] | --env VAR) (--secret-file F | --secret-stdin)',
    summary: 'seal a credential for a server: injected as a header (HTTP upstreams) or a variable (stdio upstreams)',
    options: { server: { type: 'string' }, header: { type: 'string' }, format: { type: 'string' }, env: { type: 'string' }, ...secretOptions },
    run: async (parsed, { api, out }) => {
      const header = optional(parsed, 'header');
      const env = optional(parsed, 'env');
      if ((header === undefined) === (env === undefined)) throw new MandateError('usage', 'give exactly one of --header NAME and --env VAR');
      const format = optional(parsed, 'format');
      if (format !== undefined && header === undefined) throw new MandateError('usage', '--format goes with --header');
      const body = {
        name: positional(parsed, 0, 'the credential name'), server: required(parsed, 'server'),
        inject: header !== undefined ? { header, ...(format !== undefined ? { format } : {}) } : { env }, secret: await readSecret(parsed),
      };
      const answer = await (await api()).request<CredentialAnswer>('POST', '/api/v1/credentials', body);
      out.record(answer, shown(answer));
    },
  },
  {
    words: ['credential', 'list'], usage: 'mandate credential list [--server S]', summary: 'list credentials (never their secrets)',
    options: { server: { type: 'string' } },
    run: async (parsed, { api, out }) => {
      const server = optional(parsed, 'server');
      const { credentials } = await (await api()).request<{ credentials: CredentialAnswer[] }>('GET', `/api/v1/credentials${server ? `?server=${encodeURIComponent(server)}` : ''}`);
      out.table('credentials', credentials.map((c) => ({ ...c, injected: injectedAs(c) })), ['id', 'name', 'server', 'injected', 'kek_id']);
    },
  },
  {
    words: ['credential', 'show'], usage: 'mandate credential show <id>', summary: 'show one credential (never its secret)',
    run: async (parsed, { api, out }) => {
      const answer = await (await api()).request<CredentialAnswer>('GET', `/api/v1/credentials/${encodeURIComponent(positional(parsed, 0, 'the credential id'))}`);
      out.record(answer, shown(answer));
    },
  },
  {
    words: ['credential', 'set-secret'], usage: 'mandate credential set-secret <id> (--secret-file F | --secret-stdin)',
    summary: 'replace a credential\'s secret; sessions and requests from now on get the new one',
    options: { ...secretOptions },
    run: async (parsed, { api, out }) => {
      const id = positional(parsed, 0, 'the credential id');
      const answer = await (await api()).request<CredentialAnswer>('PUT', `/api/v1/credentials/${encodeURIComponent(id)}/secret`, { secret: await readSecret(parsed) });
      out.record(answer, shown(answer));
    },
  },
  {
    words: ['credential', 'remove'], usage: 'mandate credential remove <id>', summary: 'remove a credential and its sealed secret',
    run: async (parsed, { api, out }) => {
      const answer = await (await api()).request<{ removed: string }>('DELETE', `/api/v1/credentials/${encodeURIComponent(positional(parsed, 0, 'the credential id'))}`);
      out.record(answer, [['removed', answer.removed]]);
    },
  },
  {
    words: ['credential', 'rotate-kek'], usage: 'mandate credential rotate-kek [--new-kek-file F]',
    summary: 'rewrap every data key: under F (created if missing; Mandate stopped), or under the running Mandate\'s current key',
    options: { 'new-kek-file': { type: 'string' } },
    run: async (parsed, { api, config, env, out }) => {
      const file = optional(parsed, 'new-kek-file');
      if (file === undefined) {
        const answer = await (await api()).request<{ kek_id: string; rewrapped: number; unchanged: number }>('POST', '/api/v1/credentials/rotate-kek', {});
        out.record(answer, [['kek id', answer.kek_id], ['rewrapped', answer.rewrapped], ['already under it', answer.unchanged]]);
        return;
      }
      let target: Kek;
      let created = false;
      try {
        target = await readKekFile(file);
      } catch (error) {
        if (!(error instanceof MandateError) || error.code !== 'kek_missing') throw error;
        target = await writeNewKekFile(file);
        created = true;
      }
      const keks = await loadKekRing(config, env);
      const store = await openStore(config);
      try {
        const result = await rewrapAll(store, keks, target, nowSeconds());
        out.record({ kek_id: result.kekId, rewrapped: result.rewrapped, unchanged: result.unchanged, kek_file: file, created }, [
          ['kek id', result.kekId], ['kek file', `${file}${created ? ' (created, mode 0600)' : ''}`], ['rewrapped', result.rewrapped], ['already under it', result.unchanged],
        ]);
        out.note(`Start Mandate with MANDATE_KEK_FILE=${file}; the key it replaces is no longer needed.`);
      } finally {
        keks.destroy();
        target.key.fill(0);
        await store.close();
      }
    },
  },
];
