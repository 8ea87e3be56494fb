/**
 * What the image test needs to know about the Dockerfile, read from the file
 * itself so the two cannot drift apart.
 */

/**
 * The images the Dockerfile's stages start from, with the defaults of the
 * ARGs declared before the first FROM filled in; stages built on an earlier
 * stage of the same file are not listed. Throws when a FROM uses an ARG that
 * has no default, since no image name could then be known.
 */
export function baseImages(dockerfile: string): string[] {
  const args = new Map<string, string>();
  const stages = new Set<string>();
  const bases: string[] = [];
  let seenFrom = false;

  for (const line of instructions(dockerfile)) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const word = keyword.toUpperCase();

    if (word === 'ARG' && !seenFrom) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest.join(' '));
      if (m?.[1] !== undefined && m[2] !== undefined) args.set(m[1], unquote(m[2]));
      continue;
    }
    if (word !== 'FROM') continue;

    seenFrom = true;
    const words = rest.filter((w) => !w.startsWith('--'));
    const image = substitute(words[0] ?? '', args);
    if (!stages.has(image.toLowerCase()) && !bases.includes(image)) bases.push(image);
    if (words[1]?.toUpperCase() === 'AS' && words[2]) stages.add(words[2].toLowerCase());
  }
  return bases;
}

/** Logical lines: continuations joined, comments and blank lines dropped. */
function instructions(text: string): string[] {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    lines.push((current + line).trim());
    current = '';
  }
  if (current.trim()) lines.push(current.trim());
  return lines;
}

function substitute(word: string, args: Map<string, string>): string {
  return word.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => {
    const name = (a ?? b) as string;
    const value = args.get(name);
    if (value === undefined)
      throw new Error(`Dockerfile: FROM uses ARG ${name}, which has no default`);
    return value;
  });
}

function unquote(value: string): string {
  const m = /^(["'])(.*)\1$/.exec(value);
  return m?.[2] ?? value;
}
