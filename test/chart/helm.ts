/**
 * The helm command line for the chart tests: built from its Go module by
 * test/cluster/build-helm.sh into the cluster cache, like the control plane's
 * binaries, and run as a child process.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { parseAllDocuments } from 'yaml';

const execFileAsync = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = join(ROOT, 'charts', 'mlpipeline-operator');
const BUILD_SCRIPT = join(ROOT, 'test', 'cluster', 'build-helm.sh');

/** The helm version build-helm.sh builds by default, read from the script itself. */
export function helmVersion(): string {
  const script = readFileSync(BUILD_SCRIPT, 'utf8');
  const m = /MLP_HELM_VERSION:-(v[0-9][^}]*)\}/.exec(script);
  if (!m?.[1]) throw new Error(`${BUILD_SCRIPT} names no default helm version`);
  return m[1];
}

/** $MLP_HELM_BIN, else where build-helm.sh puts helm. */
export function helmBinary(): string {
  if (process.env.MLP_HELM_BIN) return resolve(process.env.MLP_HELM_BIN);
  const root = process.env.MLP_CLUSTER_CACHE || join(homedir(), '.cache', 'mlpipeline-cluster');
  return join(root, 'helm', helmVersion(), 'helm');
}

/** Skip reason for the chart tests, or false when they must run. */
export const helmSkip: string | false =
  !existsSync(helmBinary()) && process.env.MLP_CLUSTER_REQUIRED !== '1'
    ? `no helm at ${helmBinary()}: run test/cluster/build-helm.sh`
    : false;

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs helm with its own configuration, cache and data folders under home, so
 * nothing of the user's helm set-up is read or written.
 */
export async function helm(
  args: string[],
  opts: { home: string; kubeconfig?: string; timeoutMs?: number },
): Promise<HelmResult> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: opts.home,
    HELM_CONFIG_HOME: join(opts.home, 'config'),
    HELM_CACHE_HOME: join(opts.home, 'cache'),
    HELM_DATA_HOME: join(opts.home, 'data'),
  };
  if (opts.kubeconfig !== undefined) env.KUBECONFIG = opts.kubeconfig;
  const bin = helmBinary();
  if (!existsSync(bin)) throw new Error(`${bin} not found: run test/cluster/build-helm.sh first`);
  try {
    const { stdout, stderr } = await execFileAsync(bin, args, {
      env,
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** helm, failing with its output when it exits non-zero. */
export async function helmOk(
  args: string[],
  opts: { home: string; kubeconfig?: string; timeoutMs?: number },
): Promise<string> {
  const r = await helm(args, opts);
  if (r.code !== 0) {
    throw new Error(`helm ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  }
  return r.stdout;
}

/* eslint-disable @typescript-eslint/no-explicit-any --
   Rendered manifests are read loosely, as JSON: each check names the fields it reads. */
export type Manifest = any;

/** The objects of a multi-document YAML stream, without empty documents. */
export function manifests(text: string): Manifest[] {
  const objects: unknown[] = parseAllDocuments(text).map((doc) => doc.toJSON() as unknown);
  return objects.filter((obj) => obj !== null && obj !== undefined);
}
