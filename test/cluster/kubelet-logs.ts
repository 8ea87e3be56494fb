/**
 * The kubelet's log endpoint, for the local kubelet, which writes container
 * output to files and serves nothing. The API server answers `pods/log` by
 * asking the pod's node at https://<node address>:<kubelet port>/containerLogs/<namespace>/<pod>/<container>,
 * so this serves that path from the local kubelet's files and writes its port
 * into the Node's status (daemonEndpoints), where the API server reads it.
 *
 * The API server takes the node's Hostname address first, so the kubelet
 * must be started with a node name that resolves here: `localhost`. It
 * checks no kubelet certificate when none is configured (the test control
 * plane configures none), so a self-signed one does.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { podLogFile } from './kubelet.js';
import type { Api } from './api-client.js';

export interface ContainerLogServer {
  port: number;
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);

/** A kubelet's answer: the container's stdout then its stderr (the local kubelet keeps them apart). */
async function containerLog(
  workDir: string,
  namespace: string,
  pod: string,
  container: string,
  limitBytes: number | undefined,
): Promise<string | undefined> {
  const parts: string[] = [];
  let found = false;
  for (const stream of ['stdout', 'stderr'] as const) {
    const file = podLogFile(workDir, namespace, pod, container, stream);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    found = true;
    parts.push(text);
  }
  if (!found) return undefined;
  const text = parts.join('');
  return limitBytes === undefined ? text : Buffer.from(text).subarray(0, limitBytes).toString();
}

export async function serveContainerLogs(options: {
  /** As the cluster admin: to write the Node's status. */
  api: Api<Record<string, unknown>>;
  nodeName: string;
  /** The local kubelet's workDir. */
  workDir: string;
  /** Where the serving certificate is written. */
  dir: string;
}): Promise<ContainerLogServer> {
  await mkdir(options.dir, { recursive: true });
  const key = join(options.dir, 'kubelet-serving.key');
  const cert = join(options.dir, 'kubelet-serving.crt');
  if (!(await stat(cert).catch(() => undefined))) {
    await execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
  }

  const server: Server = createServer(
    { key: await readFile(key), cert: await readFile(cert) },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'GET' || !match) {
        res.writeHead(404).end('not found');
        return;
      }
      const [, namespace, pod, container] = match.map(decodeURIComponent);
      const limit = url.searchParams.get('limitBytes');
      containerLog(
        options.workDir,
        namespace!,
        pod!,
        container!,
        limit === null ? undefined : Number(limit),
      ).then(
        (text) => {
          if (text === undefined)
            res.writeHead(404).end(`no log for ${namespace}/${pod}/${container}`);
          else res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
        },
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    },
  );
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;

  const patched = await options.api(
    'PATCH',
    `/api/v1/nodes/${options.nodeName}/status`,
    { status: { daemonEndpoints: { kubeletEndpoint: { Port: port } } } },
    'application/merge-patch+json',
  );
  if (patched.status !== 200) {
    server.close();
    throw new Error(
      `writing the kubelet port into Node ${options.nodeName}: ${JSON.stringify(patched.body)}`,
    );
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
