/**
 * Reads a source table for the collect stage, in batches, with every value as
 * exact as MySQL holds it.
 */
import type { FieldPacket, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Connection as CoreConnection, TypeCast } from 'mysql2';
import { UserError } from '../../core/errors.js';
import type { Cell, RawTable } from '../../core/ports.js';
import { describeMysqlConfig, type MysqlConfig } from './mysql-config.js';
import { createMysqlPool, isMysqlPool, type MysqlPool } from './mysql-pool.js';
import { checkIdentifier, mysqlColumn, mysqlTable } from './sql-names.js';

export interface ReadMysqlTableOptions {
  /** `table` or `db.table`. */
  table: string;
  /** Columns to read, in this order; all of the table's when absent. */
  columns?: string[];
  /**
   * Reads in this column's order, batch after batch from the last key seen
   * (keyset pagination). It must be NOT NULL with a unique index of its own,
   * such as the primary key: otherwise rows could be skipped between batches
   * and each batch would sort the whole table.
   */
  keyColumn?: string;
  /** Rows per batch with keyColumn (default 10000). */
  batchSize?: number;
}

const DEFAULT_BATCH_SIZE = 10_000;
// Selected next to the columns, uncast, to ask for the next batch exactly.
const KEY_ALIAS = '__mlp_next_key';
const BINARY_CHARSET = 63;
const ER_NO_SUCH_TABLE = 1146;
const ER_BAD_DB_ERROR = 1049;

const INTEGER_TYPES = new Set(['TINY', 'SHORT', 'LONG', 'INT24', 'LONGLONG', 'YEAR']);
const DECIMAL_TYPES = new Set(['DECIMAL', 'NEWDECIMAL']);

/**
 * Reads a table into rows of cells: DECIMAL and BIGINT as exact strings,
 * DATETIME and TIMESTAMP as ISO 8601 UTC (a DATETIME is taken to hold UTC),
 * DATE as YYYY-MM-DD, binary columns as base64, NULL and zero dates as null.
 * All batches read one consistent snapshot.
 */
export async function readMysqlTable(
  db: MysqlPool | MysqlConfig,
  options: ReadMysqlTableOptions,
): Promise<RawTable> {
  const quoted = mysqlTable(options.table);
  if (options.keyColumn !== undefined) checkIdentifier(options.keyColumn, 'key column');
  for (const column of options.columns ?? []) checkIdentifier(column);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new UserError(`batchSize must be a positive integer, not ${batchSize}`);
  }

  const pool = isMysqlPool(db) ? db : createMysqlPool(db, { connectionLimit: 1 });
  const conn = await pool.connect();
  try {
    const tableColumns = await columnsOf(conn, options.table, quoted, pool.config);
    const columns = chooseColumns(options, tableColumns);

    // Batches read separately would otherwise each see the table as it is
    // then, and a row updated in between could be read twice or not at all.
    await conn.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    let rows: Cell[][];
    try {
      rows =
        options.keyColumn === undefined
          ? await readAll(conn, quoted, columns)
          : await readByKey(conn, options.table, quoted, columns, options.keyColumn, batchSize);
    } catch (err) {
      // The read's own error is the one to report, not a failed rollback's.
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    await conn.query('COMMIT');
    return { columns, rows };
  } catch (err) {
    throw pool.describeError(err, `read table ${options.table}`);
  } finally {
    conn.release();
    if (!isMysqlPool(db)) await pool.end();
  }
}

async function columnsOf(
  conn: PoolConnection,
  table: string,
  quoted: string,
  config: MysqlConfig,
): Promise<string[]> {
  try {
    const [, fields] = await conn.query<RowDataPacket[]>(`SELECT * FROM ${quoted} LIMIT 0`);
    return fields.map((f) => f.name);
  } catch (err) {
    const errno = (err as { errno?: number }).errno;
    if (errno === ER_NO_SUCH_TABLE || errno === ER_BAD_DB_ERROR) {
      throw new UserError(
        `source table ${table} does not exist (MySQL ${describeMysqlConfig(config)}): ` +
          (err as Error).message,
      );
    }
    throw err;
  }
}

function chooseColumns(options: ReadMysqlTableOptions, tableColumns: string[]): string[] {
  // MySQL column names compare without case; the table's own spelling is kept.
  const byLower = new Map(tableColumns.map((c) => [c.toLowerCase(), c]));
  const find = (name: string, what: string) => {
    const found = byLower.get(name.toLowerCase());
    if (found === undefined) {
      throw new UserError(
        `${what} ${name} not found in table ${options.table} (it has: ${tableColumns.join(', ')})`,
      );
    }
    return found;
  };

  if (options.keyColumn !== undefined) find(options.keyColumn, 'key column');
  if (options.columns === undefined) return tableColumns;

  const columns = options.columns.map((c) => find(c, 'column'));
  const seen = new Set<string>();
  for (const c of columns) {
    if (seen.has(c)) throw new UserError(`column ${c} is listed twice`);
    seen.add(c);
  }
  return columns;
}

async function readAll(conn: PoolConnection, quoted: string, columns: string[]): Promise<Cell[][]> {
  const rows: Cell[][] = [];
  // Streamed row by row rather than buffered by the driver as one result.
  // The promise wrapper's typings call this the promise connection; at run
  // time it is the callback one, which is the one that can stream.
  const core = conn.connection as unknown as CoreConnection;
  const stream = core
    .query({
      sql: `SELECT ${columns.map(mysqlColumn).join(', ')} FROM ${quoted}`,
      rowsAsArray: true,
      typeCast: castCell,
    })
    .stream();
  for await (const row of stream) rows.push(row as Cell[]);
  return rows;
}

async function readByKey(
  conn: PoolConnection,
  table: string,
  quoted: string,
  columns: string[],
  keyColumn: string,
  batchSize: number,
): Promise<Cell[][]> {
  await requireUniqueKey(conn, table, quoted, keyColumn);

  const key = mysqlColumn(keyColumn);
  const select = `SELECT ${columns.map(mysqlColumn).join(', ')}, ${key} AS ${KEY_ALIAS} FROM ${quoted}`;
  const rows: Cell[][] = [];
  let after: string | undefined;
  for (;;) {
    const where = after === undefined ? '' : ` WHERE ${key} > ${after}`;
    const [batch, fields] = await conn.query<RowDataPacket[]>({
      sql: `${select}${where} ORDER BY ${key} LIMIT ${batchSize}`,
      rowsAsArray: true,
      typeCast: castCell,
    });
    const cells = batch as unknown as Cell[][];
    for (const row of cells) rows.push(row.slice(0, columns.length));
    if (cells.length < batchSize) return rows;
    after = keyLiteral(cells.at(-1)!.at(-1)!, fields.at(-1)!, conn);
  }
}

/**
 * The last key seen as SQL text. Numbers are written as numeric literals: a
 * BIGINT column compared with a quoted string would be compared as a double
 * and lose keys past 2^53.
 */
function keyLiteral(value: Cell, field: FieldPacket, conn: PoolConnection): string {
  const type = TYPE_NAMES[field.type ?? -1] ?? '';
  if (
    (INTEGER_TYPES.has(type) || DECIMAL_TYPES.has(type)) &&
    /^-?\d+(\.\d+)?$/.test(String(value))
  ) {
    return String(value);
  }
  // Binary keys come back as hex (see castCell) and go out as a hex literal.
  if (
    field.characterSet === BINARY_CHARSET &&
    typeof value === 'string' &&
    /^[0-9a-f]*$/.test(value)
  ) {
    if (type === '' || !type.startsWith('DATE')) return `X'${value}'`;
  }
  return conn.escape(value);
}

async function requireUniqueKey(
  conn: PoolConnection,
  table: string,
  quoted: string,
  keyColumn: string,
): Promise<void> {
  const [indexes] = await conn.query<RowDataPacket[]>(`SHOW INDEX FROM ${quoted}`);
  const columnsByIndex = new Map<string, RowDataPacket[]>();
  for (const row of indexes) {
    const name = String(row.Key_name);
    columnsByIndex.set(name, [...(columnsByIndex.get(name) ?? []), row]);
  }
  const usable = [...columnsByIndex.values()].some(
    (parts) =>
      parts.length === 1 &&
      Number(parts[0]!.Non_unique) === 0 &&
      String(parts[0]!.Column_name).toLowerCase() === keyColumn.toLowerCase() &&
      parts[0]!.Null !== 'YES',
  );
  if (!usable) {
    throw new UserError(
      `key column ${keyColumn} of ${table} must be NOT NULL with a unique index of its own ` +
        '(a single-column primary key will do); without one, batches could skip rows',
    );
  }
}

// mysql2 names a field's type in typeCast but numbers it in FieldPacket; these
// are the protocol's numbers for the types keyLiteral writes as numbers.
const TYPE_NAMES: Record<number, string> = {
  0: 'DECIMAL',
  1: 'TINY',
  2: 'SHORT',
  3: 'LONG',
  8: 'LONGLONG',
  9: 'INT24',
  13: 'YEAR',
  246: 'NEWDECIMAL',
};

const castCell: TypeCast = (field, next) => {
  // The key alias is read as the server sent it, for the next batch's WHERE:
  // dates as the server's text, binary as hex.
  if (field.name === KEY_ALIAS) {
    if (field.type.startsWith('DATE') || field.type.startsWith('TIMESTAMP')) return field.string();
    const value: unknown = next();
    return Buffer.isBuffer(value) ? value.toString('hex') : value;
  }

  // MariaDB's JSON is LONGTEXT marked as json, which the driver would parse;
  // a cell keeps the text.
  if (field.extendedFormat === 'json') return field.string('utf8');

  switch (field.type) {
    case 'DATETIME':
    case 'DATETIME2':
    case 'TIMESTAMP':
    case 'TIMESTAMP2': {
      const text = field.string();
      return text === null || text.startsWith('0000-00-00') ? null : isoFromDateTime(text);
    }
    case 'DATE':
    case 'NEWDATE': {
      const text = field.string();
      return text === null || text === '0000-00-00' ? null : text;
    }
    case 'DECIMAL':
    case 'NEWDECIMAL':
    case 'LONGLONG':
      return field.string();
    case 'JSON':
      // MySQL marks JSON as binary; its text is always UTF-8.
      return field.string('utf8');
    case 'BIT': {
      const bytes = field.buffer();
      if (bytes === null) return null;
      const value = bytes.reduce((n, b) => (n << 8n) | BigInt(b), 0n);
      return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
    }
    case 'GEOMETRY':
    case 'VECTOR':
      throw new UserError(
        `column ${field.name} has type ${field.type}, which cannot be read as a value`,
      );
    default: {
      // The driver gives binary columns (BLOB, BINARY, VARBINARY) as Buffers.
      const value: unknown = next();
      return Buffer.isBuffer(value) ? value.toString('base64') : value;
    }
  }
};

/** `2026-12-04 15:30:00[.ffffff]` read in a UTC session, as ISO 8601 UTC. */
function isoFromDateTime(text: string): string {
  const [date, time = '00:00:00'] = text.split(' ');
  return `${date}T${time}Z`;
}
