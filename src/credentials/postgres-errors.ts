// What a failure of PostgreSQL may say about itself: its SQLSTATE and message, with
// every secret the provider knows of and any credential in a URL taken out. Callers
// get this text, never the driver's error, whose fields and causes are not ours to vet.
const REDACTED = '[REDACTED]';
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi;

export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let scrubbed = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) scrubbed = scrubbed.split(form).join(REDACTED);
  }
  return scrubbed.replace(URL_USERINFO, `$1${REDACTED}@`);
}

/** One line about a driver or server failure, safe to log and to show. */
export function describePgFailure(error: unknown, secrets: readonly string[]): string {
  if (typeof error !== 'object' || error === null) return scrubSecrets(String(error), secrets);
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' && message.length > 0 ? message : 'unknown error';
  const state = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}: ` : typeof code === 'string' ? `${code}: ` : '';
  return scrubSecrets(`${state}${text}`.replace(/\s+/g, ' ').slice(0, 500), secrets);
}
