/**
 * What every cluster test needs besides the control plane itself: a small JSON
 * client for the API server, a poll-until helper, and the skip rule.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { clusterBinDir, clusterBinariesPresent, type ControlPlane } from './control-plane.js';

/** Skip reason for a cluster suite, or false when it must run. */
export const clusterSkip: string | false =
  !clusterBinariesPresent() && process.env.MLP_CLUSTER_REQUIRED !== '1'
    ? `no control-plane binaries in ${clusterBinDir()}: run test/cluster/build.sh`
    : false;

export interface Reply<Body> {
  status: number;
  body: Body;
  /** Warning headers the API server sent. */
  warnings: string[];
}

export type Api<Body> = (
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
) => Promise<Reply<Body>>;

/**
 * Requests as the cluster admin (the control plane's client certificate), or
 * as whoever a bearer token belongs to. A reply that is not JSON comes back
 * as `{ message: text }`.
 */
export function apiClient<Body = Record<string, unknown>>(
  cp: ControlPlane,
  token?: string,
): Api<Body> {
  const ca = readFileSync(cp.tls.ca);
  const identity =
    token === undefined ? { cert: readFileSync(cp.tls.cert), key: readFileSync(cp.tls.key) } : {};
  return (method, path, body, contentType = 'application/json') =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (payload !== undefined) headers['content-type'] = contentType;
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const req = request(
        new URL(path, cp.server),
        { method, ca, ...identity, headers, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = { message: text };
            }
            const w = res.headers.warning;
            const warnings = w === undefined ? [] : Array.isArray(w) ? w : [w];
            resolve({ status: res.statusCode ?? 0, body: parsed as Body, warnings });
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.end(payload);
    });
}

/** Polls probe until it returns a value, or fails naming what never came. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
