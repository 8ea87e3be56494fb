/** Column names for a message: all of a short list, the start of a long one. */
export function describeColumns(columns: readonly string[], max = 20): string {
  if (columns.length <= max) return columns.join(', ');
  return `${columns.slice(0, max).join(', ')}, ... (${columns.length} columns)`;
}
