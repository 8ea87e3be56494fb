/**
 * The podman command line for the image test. Everything it stores lives in a
 * store of its own under the image cache, so the local stand-in for the Node
 * base image never shadows anything in the machine's default store, and
 * removing the cache folder removes it all.
 */
import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** $MLP_IMAGE_CACHE, else ~/.cache/mlpipeline-image: the store and nothing of the repository. */
export function imageCache(): string {
  return process.env.MLP_IMAGE_CACHE || join(homedir(), '.cache', 'mlpipeline-image');
}

export interface Store {
  root: string;
  runroot: string;
}

export function testStore(cache = imageCache()): Store {
  return { root: join(cache, 'storage'), runroot: join(cache, 'run') };
}

/**
 * Limits every build step and container gets. The runtime here refuses the
 * host's defaults (runc cannot raise them inside this machine), so they are
 * set explicitly, at values any Node process is content with.
 */
export const ULIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768'];

export interface Output {
  stdout: string;
  stderr: string;
}

export class PodmanError extends Error {
  override readonly name = 'PodmanError';
  constructor(
    readonly args: string[],
    readonly code: number | string | undefined,
    readonly output: Output,
  ) {
    super(
      `podman ${args.slice(0, 3).join(' ')} ... exited with ${String(code)}:\n` +
        lastLines(output.stderr || output.stdout, 30),
    );
  }
}

export class Podman {
  constructor(readonly store: Store = testStore()) {}

  /** The global options that select the store and the runtime. */
  globalArgs(): string[] {
    return ['--root', this.store.root, '--runroot', this.store.runroot, '--runtime', 'runc'];
  }

  /** Runs podman to the end; a non-zero exit throws with the end of its output. */
  async run(args: string[], timeoutMs = 60_000): Promise<Output> {
    try {
      return await execFileAsync('podman', [...this.globalArgs(), ...args], {
        timeout: timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (error) {
      const e = error as { code?: number | string; stdout?: string; stderr?: string };
      throw new PodmanError(args, e.code, { stdout: e.stdout ?? '', stderr: e.stderr ?? '' });
    }
  }

  /** Removes containers, whatever their state; ones already gone are fine. */
  async removeContainers(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.run(['rm', '--force', '--ignore', '--time', '5', ...ids]);
  }
}

/** Whether the podman command exists on this machine. */
export async function podmanInstalled(): Promise<boolean> {
  try {
    await execFileAsync('podman', ['--version']);
    return true;
  } catch {
    return false;
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}
