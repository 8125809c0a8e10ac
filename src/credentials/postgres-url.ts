// The two connection URLs of the PostgreSQL provider: the admin's, pointed at the
// database the roles are for, and a lease's, which is the same server and database
// as the role with its password. Both are secrets; neither appears in an error.
import { MandateError } from '../errors.ts';

export interface AdminConnection {
  /** The admin URL with its database replaced: where roles are created, granted and dropped. */
  connectionString: string;
  database: string;
  /** What an error message must never contain: the admin's password, user name and URL. */
  secrets: string[];
  /** The server address a lease URL names (empty host: the default socket). */
  host: string;
  port: string;
  search: string;
}

const decode = (part: string): string => {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
};

export function adminConnection(adminUrl: string, database: string | undefined): AdminConnection {
  let url: URL;
  try {
    url = new URL(adminUrl);
  } catch {
    // new URL's own error keeps the input; this one does not.
    throw new MandateError('invalid_config', 'the PostgreSQL admin URL is not a URL (postgres://user:password@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new MandateError('invalid_config', 'the PostgreSQL admin URL must start with postgres:// or postgresql://');
  }
  const target = database ?? decode(url.pathname.replace(/^\//, ''));
  if (target.length === 0) throw new MandateError('invalid_config', 'no database for PostgreSQL roles: name it in the admin URL or in the configuration');
  const secrets = [adminUrl, url.password, decode(url.password)].filter((s) => s.length > 0);
  url.pathname = `/${encodeURIComponent(target)}`;
  return { connectionString: url.href, database: target, secrets, host: url.hostname, port: url.port, search: url.search };
}

/** `postgres://role:password@host:port/database` with the admin URL's other parameters (sslmode, …). */
export function leaseUrl(admin: AdminConnection, role: string, password: string): string {
  const url = new URL(`postgres://${admin.host}${admin.port ? `:${admin.port}` : ''}/${encodeURIComponent(admin.database)}${admin.search}`);
  url.username = role;
  url.password = password;
  return url.href;
}

/**
 * The libpq environment of a lease URL (PGHOST, PGPORT, PGDATABASE, PGUSER,
 * PGPASSWORD): for an upstream that reads them, so the password travels in its
 * environment, not on its command line where other local users can read it.
 */
export function libpqEnvironment(url: string): Record<string, string> {
  const parsed = new URL(url);
  const env: Record<string, string> = {
    PGDATABASE: decode(parsed.pathname.replace(/^\//, '')),
    PGUSER: decode(parsed.username),
    PGPASSWORD: decode(parsed.password),
  };
  if (parsed.hostname) env.PGHOST = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (parsed.port) env.PGPORT = parsed.port;
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}
