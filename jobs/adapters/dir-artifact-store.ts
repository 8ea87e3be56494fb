/**
 * Run artifacts and model versions in a local folder: the embedded default of
 * single-container mode.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ArtifactStore } from '../../core/ports.js';
import { checkArtifactKey, checkArtifactPrefix } from './artifact-keys.js';

// Temporary files of writes in progress; list() never shows them.
const TEMP_MARK = '.mlp-tmp-';

export class DirArtifactStore implements ArtifactStore {
  readonly location: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
    this.location = this.#root;
  }

  /**
   * Writes to a temporary file in the same folder, flushes it, then renames
   * it over the key: a reader sees the old object or the new one, never part.
   */
  async put(key: string, body: Buffer | string): Promise<void> {
    const path = this.#path(key);
    const dir = dirname(path);
    const temp = join(dir, `${TEMP_MARK}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await mkdir(dir, { recursive: true });
      const file = await open(temp, 'wx');
      try {
        await file.writeFile(body);
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw new Error(`cannot write ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const path = this.#path(key);
    try {
      return await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A folder at the key (runs/, say) is no object, as on S3.
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
      throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      await rm(path, { force: true });
    } catch (err) {
      throw new Error(`cannot delete ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkArtifactPrefix(prefix);
    // Only the folder the prefix points into is walked, not the whole store.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const keys: string[] = [];
    await this.#walk(base, keys);
    return keys.filter((k) => k.startsWith(prefix)).sort();
  }

  async check(): Promise<void> {
    try {
      await mkdir(this.#root, { recursive: true });
      await access(this.#root, constants.R_OK | constants.W_OK);
    } catch (err) {
      throw new Error(`folder ${this.#root} is not usable: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async #walk(relDir: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(join(this.#root, relDir), { withFileTypes: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw new Error(`cannot list ${join(this.#root, relDir)}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    for (const entry of entries) {
      if (entry.name.startsWith(TEMP_MARK)) continue;
      const key = relDir === '' ? entry.name : `${relDir}/${entry.name}`;
      if (entry.isDirectory()) await this.#walk(key, out);
      else if (entry.isFile()) out.push(key);
    }
  }

  #path(key: string): string {
    checkArtifactKey(key);
    const path = resolve(this.#root, ...key.split('/'));
    // The key check already rules out escapes; this guards the rule itself.
    const rel = relative(this.#root, path);
    if (rel === '' || rel.startsWith('..') || rel.includes(`..${sep}`)) {
      throw new Error(`artifact key "${key}" resolves outside ${this.#root}`);
    }
    return path;
  }
}
