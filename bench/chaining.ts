// Chaining latency on a real control plane with the local kubelet: from a
// stage's pod reaching phase Succeeded to the next stage's Job existing, both
// seen by this process's own watches on its own clock. The reference is the
// same pod event to the Job's Complete condition: the earliest a controller
// that waits for the Job could even start to act.
//
// Stage pods run /bin/true in place of the stage program: what is measured is
// the controller, and real stages would only add CPU load from 200 Node
// processes on a small machine, not a step of the chain.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';
import { parse } from 'yaml';

import { createLogger } from '../core/log.js';
import type { ControllerSettings } from '../controller/desired.js';
import { startController, type RunningController } from '../controller/manager.js';
import { jobName, runNowRunId } from '../controller/names.js';
import {
  clusterBinDir,
  clusterBinariesPresent,
  startControlPlane,
  type ControlPlane,
} from '../test/cluster/control-plane.js';
import { startLocalKubelet, type LocalKubelet } from '../test/cluster/kubelet.js';
import { builtinIrisManifest } from '../test/cluster/iris-example.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'bench-chaining');
const NS = 'mlp-bench-chaining';
const GROUP = 'mlpipeline.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'mlpipelines';
const STAGES = ['collect', 'clean', 'train', 'predict'] as const;
/** Pipelines running at once, each running its runs one after another. */
const PIPELINES = 5;
const RUNS_PER_PIPELINE = 11;
const RUN_TIMEOUT_MS = 60_000;
/** After the last run: the last Job's Complete condition lands about a second after its pod. */
const SETTLE_MS = 3000;

const SETTINGS: ControllerSettings = {
  image: 'mlpipeline',
  imagePullPolicy: 'Never',
  stageServiceAccount: 'mlpipeline-stage',
  s3: {
    bucket: 'unused',
    prefix: 'pipelines/',
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
  },
};

interface Seen {
  podSucceeded: Map<string, number>;
  jobAdded: Map<string, number>;
  jobComplete: Map<string, number>;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Records when this process sees each pod succeed and each Job appear and complete. */
async function watchTimes(kc: KubeConfig, seen: Seen, onPodSucceeded: (job: string) => void) {
  const watch = new Watch(kc);
  const lost = (err: unknown) => {
    if (err instanceof Error && err.name !== 'AbortError') {
      console.error(`bench chaining: a timing watch ended: ${err.message}`);
    }
  };
  const jobs = await watch.watch(
    `/apis/batch/v1/namespaces/${NS}/jobs`,
    {},
    (type: string, job: V1Job) => {
      const now = Date.now();
      const name = job.metadata?.name ?? '';
      if (type === 'ADDED' && !seen.jobAdded.has(name)) seen.jobAdded.set(name, now);
      const complete = (job.status?.conditions ?? []).some(
        (c) => c.type === 'Complete' && c.status === 'True',
      );
      if (complete && !seen.jobComplete.has(name)) seen.jobComplete.set(name, now);
    },
    lost,
  );
  const pods = await watch.watch(
    `/api/v1/namespaces/${NS}/pods`,
    {},
    (_type: string, pod: V1Pod) => {
      const now = Date.now();
      const job = pod.metadata?.labels?.['batch.kubernetes.io/job-name'];
      if (job === undefined || pod.status?.phase !== 'Succeeded') return;
      if (seen.podSucceeded.has(job)) return;
      seen.podSucceeded.set(job, now);
      onPodSucceeded(job);
    },
    lost,
  );
  return [jobs, pods];
}

export async function benchChaining(): Promise<string> {
  if (!clusterBinariesPresent()) {
    throw new Error(`no control-plane binaries in ${clusterBinDir()}: run test/cluster/build.sh`);
  }
  await mkdir(DIR, { recursive: true });
  const seen: Seen = { podSucceeded: new Map(), jobAdded: new Map(), jobComplete: new Map() };
  const waiting = new Map<string, () => void>();
  const runIds: string[] = [];
  let cp: ControlPlane | undefined;
  let kubelet: LocalKubelet | undefined;
  let controller: RunningController | undefined;
  const controllerLog = createWriteStream(join(DIR, 'controller.log'));
  const watches: AbortController[] = [];
  let elapsedMs = 0;
  let latencyMetric = { count: NaN, sum: NaN };

  try {
    cp = await startControlPlane({ dir: join(DIR, 'control-plane') });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);

    kubelet = await startLocalKubelet({
      kubeconfig: cp.kubeconfig,
      workDir: join(DIR, 'kubelet'),
      imageCommands: { mlpipeline: ['/bin/true'] },
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });

    await core.createNamespace({ body: { metadata: { name: NS } } });
    await core.createNamespacedServiceAccount({
      namespace: NS,
      body: { metadata: { name: SETTINGS.stageServiceAccount } },
    });
    // As it is in the file: client-node's typed models would drop the schema's defaults.
    await postRaw(kc, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      ...(parse(
        await readFile(join(ROOT, 'crds/mlpipeline.dev_mlpipelines.yaml'), 'utf8'),
      ) as object),
    });
    await until('the mlpipelines resource to be served', 30_000, async () => {
      try {
        await custom.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace: NS,
          plural: PLURAL,
        });
        return true;
      } catch {
        return undefined;
      }
    });

    watches.push(
      ...(await watchTimes(kc, seen, (job) => {
        waiting.get(job)?.();
        waiting.delete(job);
      })),
    );
    controller = await startController({
      kubeconfig: kc,
      namespace: NS,
      settings: SETTINGS,
      log: createLogger({ level: 'info', destination: controllerLog }),
    });

    const names = Array.from({ length: PIPELINES }, (_, i) => `chain-${i}`);
    for (const name of names) {
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: PLURAL,
        // Each pipeline's runs follow one another; Allow keeps a run-now from meeting the tail of the last.
        body: builtinIrisManifest(name, { concurrencyPolicy: 'Allow' }),
      });
    }

    const started = performance.now();
    await Promise.all(
      names.map(async (name) => {
        for (let i = 0; i < RUNS_PER_PIPELINE; i++) {
          const value = new Date().toISOString();
          const runId = runNowRunId(name, value)!;
          runIds.push(runId);
          const last = jobName(runId, 'predict');
          // Listening before asking: the pod may succeed before the patch returns.
          const done = new Promise<void>((resolve) => waiting.set(last, resolve));
          await custom.patchNamespacedCustomObject(
            {
              group: GROUP,
              version: VERSION,
              namespace: NS,
              plural: PLURAL,
              name,
              body: { metadata: { annotations: { 'mlpipeline.dev/run-now': value } } },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
          await withTimeout(done, RUN_TIMEOUT_MS, `run ${runId} to finish`);
          // Run-now values are read to the millisecond; two in the same one would be one run.
          await new Promise((r) => setTimeout(r, 5));
        }
      }),
    );
    elapsedMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, SETTLE_MS));

    const values = (await controller.metrics.chainingLatency.get()).values;
    latencyMetric = {
      count: values.find((v) => v.metricName?.endsWith('_count'))?.value ?? NaN,
      sum: values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? NaN,
    };
  } finally {
    for (const w of watches) w.abort();
    await controller?.stop();
    await new Promise<void>((r) => controllerLog.end(r));
    await kubelet?.stop();
    await cp?.stop();
  }

  // One link per stage after the first, per run.
  const chained: number[] = [];
  const waited: number[] = [];
  let missing = 0;
  for (const runId of runIds) {
    for (let i = 1; i < STAGES.length; i++) {
      const before = jobName(runId, STAGES[i - 1]!);
      const podAt = seen.podSucceeded.get(before);
      const nextAt = seen.jobAdded.get(jobName(runId, STAGES[i]!));
      const completeAt = seen.jobComplete.get(before);
      if (podAt === undefined || nextAt === undefined || completeAt === undefined) {
        missing++;
        continue;
      }
      chained.push(nextAt - podAt);
      waited.push(completeAt - podAt);
    }
  }
  chained.sort((a, b) => a - b);
  waited.sort((a, b) => a - b);
  const row = (what: string, xs: number[]) =>
    `| ${what} | ${xs.length} | ${percentile(xs, 50).toFixed(0)} | ${percentile(xs, 95).toFixed(0)} | ${(xs.at(-1) ?? NaN).toFixed(0)} |`;

  return [
    '## Chaining latency on the control plane',
    '',
    `${runIds.length} run-now runs of ${PIPELINES} pipelines at once (${RUNS_PER_PIPELINE} each, one after another) ` +
      `in ${(elapsedMs / 1000).toFixed(1)} s, on kube-apiserver and kube-controller-manager with the local kubelet; ` +
      'the controller runs in the benchmark process. Stage pods run `/bin/true` in place of the stage: ' +
      "the chain is what is measured. Times are from this process's watches, on its clock: " +
      'the pod event that shows phase Succeeded, the Job ADDED event, the Job event that shows Complete.',
    '',
    '| from a stage pod Succeeded to | links | p50 ms | p95 ms | max ms |',
    '|---|---|---|---|---|',
    row("the next stage's Job created (this controller)", chained),
    row('its own Job Complete (reference: where waiting for the Job starts)', waited),
    '',
    `The controller's own mlpipeline_chaining_latency_seconds (from when its informer first saw the pod ` +
      `Succeeded to its create returning): ${latencyMetric.count} links, mean ` +
      `${((latencyMetric.sum / latencyMetric.count) * 1000).toFixed(0)} ms.` +
      (missing > 0
        ? ` ${missing} links had an event the watches did not see and are left out.`
        : ''),
    '',
    'Target: p50 under 200 ms.',
    '',
  ].join('\n');
}

/** POSTs body as JSON to path, as the kubeconfig's user. */
async function postRaw(kc: KubeConfig, path: string, body: unknown): Promise<void> {
  const options: RequestOptions = { method: 'POST' };
  await kc.applyToHTTPSOptions(options);
  const payload = JSON.stringify(body);
  await new Promise<void>((resolve, reject) => {
    const req = request(
      new URL(path, kc.getCurrentCluster()!.server),
      { ...options, headers: { ...options.headers, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          res.statusCode === 201
            ? resolve()
            : reject(new Error(`POST ${path}: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function withTimeout(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchChaining());
