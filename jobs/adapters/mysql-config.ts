/**
 * MySQL connection settings from a URL or from separate parts, as a Kubernetes
 * Secret or the environment of a container carries them.
 */
import { UserError } from '../../core/errors.js';

export interface MysqlConfig {
  host: string;
  port: number;
  user: string;
  password?: string;
  database?: string;
  /**
   * TLS with certificate verification. Node trusts its own CA list; a private
   * CA (such as Amazon RDS's) is added with NODE_EXTRA_CA_CERTS.
   */
  ssl?: boolean;
}

export interface MysqlConfigParts {
  host?: string;
  port?: string | number;
  user?: string;
  password?: string;
  database?: string;
  ssl?: string | boolean;
}

const DEFAULT_PORT = 3306;

/**
 * Parses `mysql://user:password@host:port/database?ssl=true`. `source` names
 * where the URL came from, so an error points at the setting to fix.
 */
export function parseMysqlUrl(url: string, source = 'MySQL URL'): MysqlConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The URL itself is not repeated: it may hold a password.
    throw new UserError(`${source}: not a URL (expected mysql://user:password@host:port/database)`);
  }
  if (parsed.protocol !== 'mysql:') {
    throw new UserError(`${source}: scheme must be mysql://, not ${parsed.protocol}//`);
  }

  const database = decode(parsed.pathname.replace(/^\//, ''), `${source} database`);
  if (database.includes('/')) {
    throw new UserError(`${source}: the path must be a single database name`);
  }

  let ssl: boolean | undefined;
  for (const [name, value] of parsed.searchParams) {
    if (name !== 'ssl') {
      throw new UserError(`${source}: unknown parameter "${name}" (supported: ssl)`);
    }
    ssl = parseBoolean(value, `${source} parameter ssl`);
  }

  return mysqlConfigFromParts(
    {
      host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: parsed.port || undefined,
      user: decode(parsed.username, `${source} user`),
      password: parsed.password ? decode(parsed.password, `${source} password`) : undefined,
      database: database || undefined,
      ssl,
    },
    { host: `${source} host`, port: `${source} port`, user: `${source} user` },
  );
}

/** Checks and normalises separate settings; `names` says what to call each in errors. */
export function mysqlConfigFromParts(
  parts: MysqlConfigParts,
  names: { host?: string; port?: string; user?: string; ssl?: string } = {},
): MysqlConfig {
  const host = parts.host?.trim();
  if (!host) throw new UserError(`${names.host ?? 'host'} is required`);

  const user = parts.user;
  if (!user) throw new UserError(`${names.user ?? 'user'} is required`);

  const config: MysqlConfig = { host, port: parsePort(parts.port, names.port ?? 'port'), user };
  if (parts.password !== undefined && parts.password !== '') config.password = parts.password;
  if (parts.database) config.database = parts.database;
  if (parts.ssl !== undefined && parts.ssl !== '') {
    config.ssl =
      typeof parts.ssl === 'boolean' ? parts.ssl : parseBoolean(parts.ssl, names.ssl ?? 'ssl');
  }
  return config;
}

/**
 * Reads `${prefix}_URL`, or `${prefix}_HOST`, `_PORT`, `_USER`, `_PASSWORD`,
 * `_DATABASE`, `_SSL`. Returns undefined when none is set. `_PASSWORD` may go
 * with `_URL`, so the URL can sit in plain configuration and the password in a
 * secret; the other parts may not, as it would be unclear which one wins.
 */
export function mysqlConfigFromEnv(
  prefix: string,
  env: Record<string, string | undefined> = process.env,
): MysqlConfig | undefined {
  const name = (suffix: string) => `${prefix}_${suffix}`;
  const get = (suffix: string) => {
    const value = env[name(suffix)];
    return value === undefined || value === '' ? undefined : value;
  };
  const url = get('URL');
  const partSuffixes = ['HOST', 'PORT', 'USER', 'DATABASE', 'SSL'];
  const partsSet = partSuffixes.filter((s) => get(s) !== undefined);
  const password = get('PASSWORD');

  if (url !== undefined) {
    if (partsSet.length > 0) {
      throw new UserError(
        `${name('URL')} and ${partsSet.map(name).join(', ')} are both set: use one or the other`,
      );
    }
    const config = parseMysqlUrl(url, name('URL'));
    if (password !== undefined) {
      if (config.password !== undefined) {
        throw new UserError(`${name('URL')} has a password and ${name('PASSWORD')} is set too`);
      }
      config.password = password;
    }
    return config;
  }

  if (partsSet.length === 0 && password === undefined) return undefined;
  return mysqlConfigFromParts(
    {
      host: get('HOST'),
      port: get('PORT'),
      user: get('USER'),
      password,
      database: get('DATABASE'),
      ssl: get('SSL'),
    },
    { host: name('HOST'), port: name('PORT'), user: name('USER'), ssl: name('SSL') },
  );
}

/** `user@host:port/database`, for logs and errors: never the password. */
export function describeMysqlConfig(config: MysqlConfig): string {
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const db = config.database ? `/${config.database}` : '';
  return `${config.user}@${host}:${config.port}${db}`;
}

function parsePort(value: string | number | undefined, name: string): number {
  if (value === undefined || value === '') return DEFAULT_PORT;
  const port = typeof value === 'number' ? value : Number(value.trim());
  if (!Number.isInteger(port) || port < 1 || port > 65535 || String(value).trim() === '') {
    throw new UserError(`${name}: "${value}" is not a port number (1-65535)`);
  }
  return port;
}

function parseBoolean(value: string, name: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new UserError(`${name}: "${value}" is not true or false`);
}

function decode(value: string, name: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new UserError(`${name}: invalid percent-encoding`);
  }
}
