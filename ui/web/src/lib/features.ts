/** A form's feature fields read as numbers, or a message per field that is not one. */
export function readFeatures(
  names: string[],
  raw: Record<string, string>,
): { values: Record<string, number>; problems: Record<string, string> } {
  const values: Record<string, number> = {};
  const problems: Record<string, string> = {};
  for (const name of names) {
    const text = (raw[name] ?? '').trim().replace(',', '.');
    if (text === '') problems[name] = `Enter a value for ${name}.`;
    else if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text))
      problems[name] = `${name}: “${raw[name]}” is not a number.`;
    else values[name] = Number(text);
  }
  return { values, problems };
}
