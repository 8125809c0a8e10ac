import { createHash, randomBytes } from 'node:crypto';

/** A random identifier with a readable prefix, e.g. `mnd_5fj2k…` (128 bits of entropy). */
export const newId = (prefix: string): string => `${prefix}_${randomBytes(16).toString('base64url')}`;

/** A secret to hand out once (enrollment tokens, admin credentials); only its hash is stored. */
export const newSecret = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url');
