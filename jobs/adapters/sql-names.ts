/**
 * Table and column names that reach SQL text. The spec's schema already
 * limits them to this pattern; checking again here keeps any other caller
 * from building a statement out of arbitrary text.
 */
import { UserError } from '../../core/errors.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,63}$/;

export function checkIdentifier(name: string, what = 'column'): string {
  if (!IDENTIFIER.test(name)) {
    throw new UserError(
      `invalid ${what} name "${name}": letters, digits, _ and $, starting with a letter or _, at most 64`,
    );
  }
  return name;
}

/** `table` or `db.table`, split into its checked parts. */
export function tableParts(name: string): string[] {
  const parts = name.split('.');
  if (parts.length > 2) throw new UserError(`invalid table name "${name}": at most db.table`);
  for (const part of parts) checkIdentifier(part, 'table');
  return parts;
}

/** `db`.`table` for MySQL. */
export function mysqlTable(name: string): string {
  return tableParts(name)
    .map((p) => `\`${p}\``)
    .join('.');
}

export function mysqlColumn(name: string): string {
  return `\`${checkIdentifier(name)}\``;
}

/**
 * SQLite has no databases to qualify a table with; a `db.table` name becomes
 * one quoted identifier, so the same spec works in both and two databases'
 * tables of the same name stay apart.
 */
export function sqliteTable(name: string): string {
  tableParts(name);
  return `"${name}"`;
}

/** An index name derived from its table, within MySQL's 64 characters. */
export function indexName(table: string, suffix: string): string {
  const base = tableParts(table).at(-1)!;
  return `${base.slice(0, 63 - suffix.length)}_${suffix}`;
}
