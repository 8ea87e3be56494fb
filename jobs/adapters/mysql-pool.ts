/**
 * The one place that opens MySQL connections, so every adapter sees the same
 * session: UTC, exact big numbers, dates as text, and errors that say which
 * server they are about without showing the password.
 */
import mysql, { type Pool, type PoolConnection, type PoolOptions } from 'mysql2/promise';
import { describeMysqlConfig, type MysqlConfig } from './mysql-config.js';

export interface MysqlPoolOptions {
  connectionLimit?: number;
  connectTimeoutMs?: number;
}

export interface MysqlPool {
  readonly pool: Pool;
  readonly config: MysqlConfig;
  /** A connection from the pool; a failure to connect names the server. */
  connect(): Promise<PoolConnection>;
  /** Wraps an error so its message names the server when it is a connection failure. */
  describeError(err: unknown, doing: string): Error;
  end(): Promise<void>;
}

// Errors that mean the server could not be reached or refused the login, as
// opposed to a statement that failed.
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_HOST_IS_BLOCKED',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'HANDSHAKE_SSL_ERROR',
]);

export function isMysqlPool(value: MysqlPool | MysqlConfig): value is MysqlPool {
  return 'pool' in value && 'connect' in value && typeof value.connect === 'function';
}

export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECTION_ERROR_CODES.has(code);
}

export function createMysqlPool(config: MysqlConfig, options: MysqlPoolOptions = {}): MysqlPool {
  const poolOptions: PoolOptions = {
    host: config.host,
    port: config.port,
    user: config.user,
    password: config.password,
    database: config.database,
    connectionLimit: options.connectionLimit ?? 4,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // The session is UTC (below) and the driver converts in UTC as well, so a
    // time means the same whichever zone the server or this process runs in.
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    charset: 'utf8mb4_unicode_ci',
    enableKeepAlive: true,
  };
  if (config.ssl) poolOptions.ssl = { rejectUnauthorized: true };

  const pool = mysql.createPool(poolOptions);
  const where = describeMysqlConfig(config);

  // Queued before any statement of the connection's first user. Escaping in
  // the adapters (mysql2's and LOAD DATA's) relies on backslash escapes, which
  // a server-wide NO_BACKSLASH_ESCAPES would turn off.
  pool.pool.on('connection', (conn) => {
    conn.query(
      "SET time_zone = '+00:00', sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
      (err: Error | null) => {
        // A session that is not UTC must not be used: dropping it makes the
        // statement that was waiting fail instead of writing wrong times.
        if (err) conn.destroy();
      },
    );
  });

  const describeError = (err: unknown, doing: string): Error => {
    const message = err instanceof Error ? err.message : String(err);
    if (isConnectionError(err)) {
      const wrapped = new Error(`MySQL ${where}: cannot ${doing}: ${message}`, { cause: err });
      return Object.assign(wrapped, { code: (err as { code?: string }).code });
    }
    return err instanceof Error ? err : new Error(message);
  };

  return {
    pool,
    config,
    async connect() {
      try {
        return await pool.getConnection();
      } catch (err) {
        throw describeError(err, 'connect');
      }
    },
    describeError,
    end: () => pool.end(),
  };
}
