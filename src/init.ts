// `mandate init`: the data directory (0700) with everything a fresh Mandate needs.
// Idempotent: what exists is kept, what is missing is made.
import { generateKeyPairSync } from 'node:crypto';
import { chmod, copyFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_KEY_FILE, AUDIT_PUBLIC_KEY_FILE, AUDIT_VERIFIER_KEY_FILE, loadAuditKey } from './audit/audit-key.ts';
import type { Config } from './config.ts';
import { KEK_FILE, writeNewKekFile } from './credentials/kek.ts';
import { generateSigningKey } from './identity/keyring.ts';
import { newSecret, sha256 } from './lib/ids.ts';
import { nowSeconds } from './lib/clock.ts';
import { SQLITE_FILE, openStore } from './store/open.ts';

export const ADMIN_TOKEN_FILE = 'admin.token';
export const ADMIN_TOKEN_PREFIX = 'mandate_admin';
export { AUDIT_KEY_FILE, AUDIT_PUBLIC_KEY_FILE } from './audit/audit-key.ts';
const DEFAULT_POLICIES = new URL('../policies/default/', import.meta.url);

export interface InitResult {
  dataDir: string;
  created: string[];
  adminTokenFile: string;
}

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

export async function init(config: Config, env: NodeJS.ProcessEnv = process.env): Promise<InitResult> {
  const created: string[] = [];
  const { dataDir } = config;
  if (!(await exists(dataDir))) created.push('data directory');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);

  const store = await openStore(config);
  if (store.kind === 'sqlite') await chmod(join(dataDir, SQLITE_FILE), 0o600);
  try {
    const now = nowSeconds();
    const keys = await store.listSigningKeys();
    if (!keys.some((k) => k.state === 'current')) {
      await store.addSigningKey(generateSigningKey('current', now));
      created.push('token-signing key (ES256)');
    }
    if (!keys.some((k) => k.state === 'next')) {
      await store.addSigningKey(generateSigningKey('next', now));
      created.push('next token-signing key (published, not yet signing)');
    }

    const auditKey = join(dataDir, AUDIT_KEY_FILE);
    if (!(await exists(auditKey))) {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      await writeFile(auditKey, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
      await writeFile(join(dataDir, AUDIT_PUBLIC_KEY_FILE), publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
      created.push('audit key (Ed25519)');
    }
    if (!(await exists(join(dataDir, AUDIT_VERIFIER_KEY_FILE)))) {
      await loadAuditKey(dataDir, { origin: config.auditOrigin, trustDomain: config.trustDomain });
      created.push(`audit verifier key (${AUDIT_VERIFIER_KEY_FILE})`);
    }

    const adminTokenFile = join(dataDir, ADMIN_TOKEN_FILE);
    let adminToken: string;
    if (await exists(adminTokenFile)) {
      adminToken = (await readFile(adminTokenFile, 'utf8')).trim();
    } else {
      adminToken = newSecret(ADMIN_TOKEN_PREFIX);
      await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600, flag: 'wx' });
      created.push('admin credential');
    }
    await store.addAdminCredential(sha256(adminToken), now);

    // The key-encryption key of credentials, unless one is configured elsewhere (docs/credentials.md).
    const kekFile = join(dataDir, KEK_FILE);
    if (config.kekFile === null && !env.MANDATE_KEK && !(await exists(kekFile))) {
      await writeNewKekFile(kekFile);
      created.push('key-encryption key for credentials');
    }

    const added = await installDefaultPolicies(join(dataDir, 'policies'));
    if (added !== null) created.push(added);
    return { dataDir, created, adminTokenFile };
  } finally {
    await store.close();
  }
}

/** The default policy files installed so far, kept in the policy directory (not a .cedar file, so not a policy). */
export const DEFAULT_POLICY_MANIFEST = '.mandate-defaults.json';

/**
 * Installs the default policies: all of them into a new policy directory, and into an
 * existing one those that are new in this version (never one already installed once,
 * so a default removed on purpose stays removed, and never over a file of that name).
 * The manifest records what was installed. A directory from before the manifest gets
 * the defaults it lacks once. Says what it added, or null.
 */
async function installDefaultPolicies(policyDir: string): Promise<string | null> {
  const fresh = !(await exists(policyDir));
  if (fresh) await mkdir(policyDir, { mode: 0o700 });
  const manifestFile = join(policyDir, DEFAULT_POLICY_MANIFEST);
  const previous = await readFile(manifestFile, 'utf8').catch(() => null);
  const installed = new Set<string>(previous === null ? [] : JSON.parse(previous).installed);
  const defaults = (await readdir(DEFAULT_POLICIES)).filter((f) => f.endsWith('.cedar')).sort();
  const added: string[] = [];
  for (const file of defaults) {
    if (installed.has(file)) continue;
    installed.add(file);
    if (await exists(join(policyDir, file))) continue;
    await copyFile(new URL(file, DEFAULT_POLICIES), join(policyDir, file));
    added.push(file);
  }
  const manifest = `${JSON.stringify({ installed: [...installed].sort() }, null, 2)}\n`;
  if (previous !== manifest) await writeFile(manifestFile, manifest, { mode: 0o600 });
  if (fresh) return 'default policies';
  return added.length > 0 ? `default policies new in this version (${added.join(', ')})` : null;
}
