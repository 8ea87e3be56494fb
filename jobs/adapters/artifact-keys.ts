/**
 * The keys both artifact stores accept, so a pipeline that works on a folder
 * works on S3 and back: slash-separated names below the store, with no empty,
 * `.` or `..` segment (which a folder would resolve outside itself).
 */
import { UserError } from '../../core/errors.js';

export function checkArtifactKey(key: string): string {
  if (typeof key !== 'string' || key === '') throw new UserError('artifact key must not be empty');
  checkSegments(key, key.split('/'));
  return key;
}

/** A list prefix: like a key, but it may be empty or end with a slash. */
export function checkArtifactPrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw new UserError('artifact prefix must be a string');
  if (prefix === '') return prefix;
  const segments = prefix.split('/');
  // 'runs/' splits into ['runs', '']: the trailing empty segment is allowed.
  if (segments.at(-1) === '') segments.pop();
  checkSegments(prefix, segments);
  return prefix;
}

function checkSegments(key: string, segments: string[]): void {
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new UserError(
        `invalid artifact key "${key}": no leading, trailing or double slash, and no . or .. segment`,
      );
    }
    if (segment.includes('\\') || segment.includes('\0')) {
      throw new UserError(`invalid artifact key "${key}": no backslash or NUL`);
    }
  }
}
