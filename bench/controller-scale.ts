// 1,000 MLPipelines applied at once to a fresh control plane (no kubelet: no
// run starts): how long until all 4,000 CronJobs exist and every status says
// Ready, the controller's peak memory, and its API writes during a quiet
// resync. The controller runs as a child process of its own, so its memory
// and CPU are its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'yaml';

import {
  clusterBinDir,
  clusterBinariesPresent,
  startControlPlane,
  type ControlPlane,
} from '../test/cluster/control-plane.js';
import { startS3Server, type S3TestServer } from '../test/infra/s3.js';
import { freePort } from '../test/infra/ports.js';
import { builtinIrisManifest } from '../test/cluster/iris-example.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'bench-scale');
const NS = 'mlp-scale';
/** The controller runs with the Node.js flags the Helm chart gives it. */
const CHART_NODE_OPTIONS = (
  parse(readFileSync(join(ROOT, 'charts/mlpipeline-operator/values.yaml'), 'utf8')) as {
    controller: { nodeOptions: string };
  }
).controller.nodeOptions;
const BUCKET = 'models';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const CRONJOBS = `/apis/batch/v1/namespaces/${NS}/cronjobs`;
const COUNT = 1000;
const CONCURRENCY = 32;
const STAGES_PER_PIPELINE = 4;
/** The bench waits for a whole resync of every pipeline; the default (5 minutes) would make it slow. */
const RESYNC_MS = 30_000;
const POLL_MS = 1000;
const SETTLE_TIMEOUT_MS = 10 * 60_000;
const CLOCK_TICKS = 100;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   API replies are read loosely here, as JSON. */
type Obj = any;

type Api = (method: string, path: string, body?: unknown, accept?: string) => Promise<Obj>;

function adminApi(cp: ControlPlane): Api {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: CONCURRENCY,
    ca: readFileSync(cp.tls.ca),
    cert: readFileSync(cp.tls.cert),
    key: readFileSync(cp.tls.key),
  });
  return (method, path, body, accept = 'application/json') =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { accept };
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const req = request(new URL(path, cp.server), { method, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) >= 300) {
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
          } else {
            resolve(JSON.parse(text));
          }
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident-set peak and CPU seconds of a process, from /proc. */
function processFigures(pid: number): { peakMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { peakMiB: Number(hwm?.[1] ?? NaN) / 1024, cpuSeconds: ticks / CLOCK_TICKS };
}

/** The control plane's processes, found by the working folder startControlPlane gives them. */
function controlPlanePids(dir: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) !== dir) continue;
      const name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      found.set(name, Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

/** Sums of the counters and histogram counts in a Prometheus text page, by name and labels. */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const [key, value] = line.split(' ');
    if (key === undefined || value === undefined) continue;
    const bare = key === name;
    if (bare || (key.startsWith(`${name}{`) && key.includes(labels))) sum += Number(value);
  }
  return sum;
}

async function controllerMetrics(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return {
    writes:
      metric(text, 'mlpipeline_api_requests_total') -
      metric(text, 'mlpipeline_api_requests_total', 'method="GET"'),
    passes: metric(text, 'mlpipeline_reconcile_duration_seconds_count', 'result="ok"'),
    errors: metric(text, 'mlpipeline_reconcile_errors_total'),
    depth: metric(text, 'mlpipeline_workqueue_depth'),
    heapUsed: metric(text, 'nodejs_heap_size_used_bytes'),
  };
}

async function startChild(
  kubeconfig: string,
  s3: S3TestServer,
): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const log = createWriteStream(join(DIR, 'controller.log'));
  await new Promise((resolve) => log.once('open', resolve));
  // The built CLI, as the image runs it: no TypeScript loader in the process.
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/mlpipeline.js'),
      'controller',
      ...['--namespace', NS, '--metrics-port', String(port), '--metrics-address', '127.0.0.1'],
      ...['--resync-seconds', String(RESYNC_MS / 1000)],
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', log, log],
      env: {
        PATH: process.env.PATH,
        KUBECONFIG: kubeconfig,
        LOG_LEVEL: 'warn',
        NODE_OPTIONS: CHART_NODE_OPTIONS,
        MLP_STAGE_IMAGE: 'mlpipeline',
        MLP_STAGE_IMAGE_PULL_POLICY: 'Never',
        // A real, empty model store: every pipeline's status pass reads its model pointer.
        S3_BUCKET: BUCKET,
        S3_PREFIX: 'pipelines/',
        S3_ENDPOINT: s3.endpoint,
        S3_REGION: s3.region,
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      },
    },
  );
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the controller exited with ${code}`))),
  );
  exited.catch(() => undefined);
  for (let i = 0; ; i++) {
    const up = await Promise.race([
      fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
      exited,
    ]);
    if (up) break;
    if (i > 300) throw new Error('the controller did not answer /healthz within 60 s');
    await sleep(200);
  }
  return { child, port };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

export async function benchControllerScale(): Promise<string> {
  if (!clusterBinariesPresent()) {
    return `## Controller at scale\n\nNot measured: no control-plane binaries in ${clusterBinDir()} (run test/cluster/build.sh).\n`;
  }
  await mkdir(DIR, { recursive: true });
  const cp = await startControlPlane({ dir: join(DIR, 'control-plane') });
  const s3 = await startS3Server();
  let child: ChildProcess | undefined;
  try {
    const bucketClient = new S3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    await bucketClient.send(new CreateBucketCommand({ Bucket: BUCKET }));
    bucketClient.destroy();
    const api = adminApi(cp);
    const crd: unknown = parse(
      readFileSync(join(ROOT, 'crds/mlpipeline.dev_mlpipelines.yaml'), 'utf8'),
    );
    await api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    await api('POST', '/api/v1/namespaces', { metadata: { name: NS } });
    for (let i = 0; ; i++) {
      try {
        await api('GET', PIPELINES);
        break;
      } catch (err) {
        if (i > 150) throw err;
        await sleep(200);
      }
    }

    const started = await startChild(cp.kubeconfig, s3);
    child = started.child;
    const pid = child.pid!;
    const planePids = controlPlanePids(join(DIR, 'control-plane'));
    const cpuBefore = new Map(
      [...planePids].map(([name, p]) => [name, processFigures(p).cpuSeconds]),
    );
    const idle = processFigures(pid);

    // Apply: CONCURRENCY requests in flight until all are sent.
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < COUNT) {
          const i = next++;
          await api('POST', PIPELINES, builtinIrisManifest(`p${String(i).padStart(4, '0')}`));
        }
      }),
    );
    const applied = performance.now() - t0;

    // CronJobs are counted by their metadata only, to keep the polling light for the API server.
    let cronJobsAt: number | undefined;
    let readyAt: number | undefined;
    while (readyAt === undefined || cronJobsAt === undefined) {
      if (performance.now() - t0 > SETTLE_TIMEOUT_MS) {
        throw new Error(`not settled within ${SETTLE_TIMEOUT_MS / 1000} s`);
      }
      await sleep(POLL_MS);
      if (cronJobsAt === undefined) {
        const list = await api(
          'GET',
          CRONJOBS,
          undefined,
          'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
        );
        if (list.items.length >= COUNT * STAGES_PER_PIPELINE) cronJobsAt = performance.now() - t0;
      }
      const pipelines = await api('GET', PIPELINES);
      const ready = pipelines.items.filter((p: Obj) =>
        (p.status?.conditions ?? []).some((c: Obj) => c.type === 'Ready' && c.status === 'True'),
      ).length;
      if (ready === COUNT && readyAt === undefined) readyAt = performance.now() - t0;
    }
    const busy = processFigures(pid);
    const cpuDuring = new Map(
      [...planePids].map(([name, p]) => [
        name,
        processFigures(p).cpuSeconds - (cpuBefore.get(name) ?? 0),
      ]),
    );

    // A quiet resync: the queue settles, then every pipeline gets at least one more pass.
    for (;;) {
      const m = await controllerMetrics(started.port);
      if (m.depth === 0) break;
      await sleep(POLL_MS);
    }
    await sleep(2000);
    const quietFrom = await controllerMetrics(started.port);
    const quietStarted = performance.now();
    let quietTo = quietFrom;
    while (quietTo.passes - quietFrom.passes < COUNT || quietTo.depth > 0) {
      if (performance.now() - quietStarted > RESYNC_MS * 4) {
        throw new Error('no full resync seen within four resync intervals');
      }
      await sleep(POLL_MS);
      quietTo = await controllerMetrics(started.port);
    }
    const quietSeconds = (performance.now() - quietStarted) / 1000;
    const end = processFigures(pid);

    const s = (ms: number) => (ms / 1000).toFixed(1);
    const plane = [...cpuDuring]
      .map(([name, seconds]) => `${name} ${seconds.toFixed(1)} s`)
      .join(', ');
    const elapsed = readyAt / 1000;
    return [
      '## Controller at scale: 1,000 MLPipelines applied at once',
      '',
      `A fresh control plane (etcd, kube-apiserver, kube-controller-manager) on this machine; the ` +
        `controller as its own process (\`node bin/mlpipeline.js controller\` from the build, with the Helm chart's NODE_OPTIONS \`${CHART_NODE_OPTIONS}\`, one namespace, 4 workers, resync ${RESYNC_MS / 1000} s); ` +
        `${COUNT} MLPipelines created with ${CONCURRENCY} requests in flight. The model store is ` +
        `an S3 server (s3rver) with an empty bucket, so every status pass reads a model pointer.`,
      '',
      '| measure | value | target |',
      '|---|---|---|',
      `| all ${COUNT} created | ${s(applied)} s | |`,
      `| all ${COUNT * STAGES_PER_PIPELINE} CronJobs exist | ${s(cronJobsAt)} s | |`,
      `| every status Ready=True | ${s(readyAt)} s | under 60 s |`,
      `| controller peak RSS (VmHWM) | ${end.peakMiB.toFixed(0)} MiB (${idle.peakMiB.toFixed(0)} MiB before the apply) | under 200 MB |`,
      `| controller V8 heap in use after the quiet resync | ${(quietTo.heapUsed / 2 ** 20).toFixed(0)} MiB | |`,
      `| controller CPU until all Ready | ${(busy.cpuSeconds - idle.cpuSeconds).toFixed(1)} s in ${elapsed.toFixed(1)} s | |`,
      `| control-plane CPU in the same time | ${plane} | |`,
      `| API writes in a quiet resync (${quietTo.passes - quietFrom.passes} passes in ${quietSeconds.toFixed(0)} s) | ${quietTo.writes - quietFrom.writes} | 0 |`,
      `| reconcile errors (retried) over the whole bench | ${quietTo.errors} | |`,
      '',
      'CPU is user plus system time from /proc; the machine has 2 cores, so the sum over all ' +
        'processes cannot exceed twice the elapsed time. Writes are counted by the ' +
        "controller's own request counter (`mlpipeline_api_requests_total`, every method but GET).",
      '',
    ].join('\n');
  } finally {
    if (child) await stopChild(child);
    await s3.stop();
    await cp.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchControllerScale());
}
