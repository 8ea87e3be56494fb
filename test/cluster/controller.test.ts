/**
 * The controller against a real API server, run in this process: what a user
 * sees after applying, editing, annotating and deleting MLPipelines, with two
 * controller replicas under leader election.
 *
 * kube-controller-manager runs without its Job controller: there are no
 * nodes, and the test plays the Job controller itself by writing Job status
 * (Complete or Failed) as an admin would, which the Job controller would
 * otherwise overwrite from the pods it counts.
 *
 * Skipped when the control-plane binaries are missing, unless
 * MLP_CLUSTER_REQUIRED=1 makes their absence a failure.
 */
import assert from 'node:assert/strict';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KubeConfig } from '@kubernetes/client-node';

import { createLogger } from '../../core/log.js';
import { DirArtifactStore } from '../../jobs/adapters/dir-artifact-store.js';
import type { ControllerSettings } from '../../controller/desired.js';
import type { RequestRecord } from '../../controller/kube.js';
import { startController, type RunningController } from '../../controller/manager.js';
import { modelReader } from '../../controller/model-reader.js';
import { cronJobName, jobName, runNowRunId } from '../../controller/names.js';
import {
  apiClient,
  clusterSkip,
  createNamespace,
  ensureCrd,
  eventually,
  type Api,
} from './api-client.js';
import { DEFAULT_CONTROLLERS, startControlPlane, type ControlPlane } from './control-plane.js';
import { builtinIrisManifest } from './iris-example.js';

const DIR = fileURLToPath(new URL('../../.test-infra/controller/', import.meta.url));
const NS = 'mlp-controller-test';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const JOBS = `/apis/batch/v1/namespaces/${NS}/jobs`;
const CRONJOBS = `/apis/batch/v1/namespaces/${NS}/cronjobs`;

const SETTINGS: ControllerSettings = {
  image: 'mlpipeline:test',
  imagePullPolicy: 'Never',
  stageServiceAccount: 'mlpipeline-stage',
  s3: {
    bucket: 'models',
    prefix: 'pipelines/',
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
  },
};

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   API replies are read loosely here, as JSON: each check names the fields it reads. */
type Obj = any;

const condition = (obj: Obj, type: string) =>
  (obj?.status?.conditions ?? []).find((c: Obj) => c.type === type);
const ownedBy = (obj: Obj, uid: string) =>
  (obj?.metadata?.ownerReferences ?? []).some((o: Obj) => o.uid === uid && o.controller === true);

describe('controller on a real API server', { skip: clusterSkip, timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let api: Api<Obj>;
  let kc: KubeConfig;
  let modelDir: string;
  let logFile: WriteStream;
  const controllers: RunningController[] = [];
  const requests = new Map<string, RequestRecord[]>();

  const start = async (name: string) => {
    const seen: RequestRecord[] = [];
    requests.set(name, seen);
    const controller = await startController({
      kubeconfig: kc,
      namespace: NS,
      settings: SETTINGS,
      log: createLogger({ level: 'info', destination: logFile }).child({ replica: name }),
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      readModel: modelReader(() => new DirArtifactStore(modelDir)),
      modelRefreshMs: 0,
      resyncMs: 10 * 60_000,
      leaderElection: {
        namespace: NS,
        identity: name,
        timing: {
          leaseDurationMs: 4000,
          renewDeadlineMs: 3000,
          renewPeriodMs: 1000,
          retryPeriodMs: 500,
        },
      },
      onRequest: (r) => seen.push(r),
    });
    controllers.push(controller);
    return controller;
  };
  const leader = () => controllers.find((c) => c.isLeader());
  const get = async (path: string) => {
    const r = await api('GET', path);
    return r.status === 200 ? r.body : undefined;
  };
  const events = async (involved: string) => {
    const r = await api(
      'GET',
      `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${involved}`)}`,
    );
    return (r.body.items ?? []) as Obj[];
  };
  const setJobStatus = async (name: string, outcome: 'Complete' | 'Failed') => {
    const now = new Date().toISOString();
    const started = new Date(Date.now() - 5000).toISOString();
    const conditions =
      outcome === 'Complete'
        ? [
            {
              type: 'SuccessCriteriaMet',
              status: 'True',
              reason: 'CompletionsReached',
              message: 'done',
              lastTransitionTime: now,
            },
            {
              type: 'Complete',
              status: 'True',
              reason: 'CompletionsReached',
              message: 'done',
              lastTransitionTime: now,
            },
          ]
        : [
            {
              type: 'FailureTarget',
              status: 'True',
              reason: 'BackoffLimitExceeded',
              message: 'Job has reached the specified backoff limit',
              lastTransitionTime: now,
            },
            {
              type: 'Failed',
              status: 'True',
              reason: 'BackoffLimitExceeded',
              message: 'Job has reached the specified backoff limit',
              lastTransitionTime: now,
            },
          ];
    const status =
      outcome === 'Complete'
        ? { startTime: started, completionTime: now, succeeded: 1, conditions }
        : { startTime: started, failed: 1, conditions };
    const r = await api(
      'PATCH',
      `${JOBS}/${name}/status`,
      { status },
      'application/merge-patch+json',
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };

  const lag = monitorEventLoopDelay({ resolution: 20 });
  before(async () => {
    lag.enable();
    await mkdir(DIR, { recursive: true });
    // Job status is the test's to write: see the top of the file.
    cp = await startControlPlane({
      dir: DIR,
      controllers: DEFAULT_CONTROLLERS.filter((c) => c !== 'job'),
    });
    api = apiClient<Obj>(cp);
    kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    modelDir = await mkdtemp(join(tmpdir(), 'mlp-models-'));
    logFile = createWriteStream(join(DIR, 'controller.log'));

    await ensureCrd(api);
    await createNamespace(cp, api, NS);

    await start('replica-a');
    await start('replica-b');
    await eventually('one replica to lead', 15_000, () => Promise.resolve(leader()));
  });

  after(async () => {
    lag.disable();
    console.log(
      `event loop delay max ${Math.round(lag.max / 1e6)} ms, p99 ${Math.round(lag.percentile(99) / 1e6)} ms`,
    );
    for (const controller of controllers) await controller.stop();
    await cp?.stop();
    logFile?.end();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
  });

  it('applying an MLPipeline creates its ConfigMap and four CronJobs, owned by it, and reports Ready', async () => {
    const r = await api('POST', PIPELINES, builtinIrisManifest('iris'));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const uid: string = r.body.metadata.uid;

    const ready = await eventually('status Ready', 30_000, async () => {
      const p = await get(`${PIPELINES}/iris`);
      return condition(p, 'Ready')?.status === 'True' ? p : undefined;
    });
    assert.equal(ready.status.observedGeneration, ready.metadata.generation);
    assert.equal(condition(ready, 'Ready').reason, 'CronJobsReady');
    assert.equal(condition(ready, 'Ready').observedGeneration, ready.metadata.generation);
    assert.equal(condition(ready, 'Suspended').status, 'False');
    assert.equal(condition(ready, 'ModelPromoted').status, 'False');
    assert.ok(ready.status.nextScheduleTime, 'the next schedule time is shown');

    const cm = await get(`/api/v1/namespaces/${NS}/configmaps/iris-pipeline`);
    assert.ok(ownedBy(cm, uid), 'the ConfigMap is owned by the MLPipeline');
    assert.match(cm.data['pipeline.yaml'], /builtin: iris/);
    for (const stage of ['collect', 'clean', 'train', 'predict'] as const) {
      const cj = await get(`${CRONJOBS}/${cronJobName('iris', stage)}`);
      assert.ok(cj, `CronJob for ${stage}`);
      assert.ok(ownedBy(cj, uid), `CronJob ${stage} is owned by the MLPipeline`);
      assert.equal(cj.spec.suspend, true);
    }
  });

  it('editing the spec updates the CronJobs: retries and resources', async () => {
    const patch = {
      spec: {
        stages: { predict: { retries: 3, resources: { limits: { memory: '300Mi' } } } },
      },
    };
    const r = await api('PATCH', `${PIPELINES}/iris`, patch, 'application/merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const generation: number = r.body.metadata.generation;

    const cj = await eventually('the predict CronJob to change', 30_000, async () => {
      const c = await get(`${CRONJOBS}/iris-predict`);
      return c?.spec.jobTemplate.spec.backoffLimit === 3 ? c : undefined;
    });
    assert.equal(
      cj.spec.jobTemplate.spec.template.spec.containers[0].resources.limits.memory,
      '300Mi',
    );
    const untouched = await get(`${CRONJOBS}/iris-train`);
    assert.equal(untouched.spec.jobTemplate.spec.backoffLimit, 0);
    await eventually('observedGeneration to follow', 30_000, async () => {
      const p = await get(`${PIPELINES}/iris`);
      return p?.status?.observedGeneration === generation ? true : undefined;
    });
  });

  it('leaves an object with our name that is not ours alone, with a Warning event and Ready False', async () => {
    const foreign = await api('POST', CRONJOBS, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'other-train', labels: { team: 'data' } },
      spec: {
        schedule: '0 0 1 1 *',
        suspend: true,
        jobTemplate: {
          spec: {
            template: {
              spec: {
                restartPolicy: 'Never',
                containers: [{ name: 'x', image: 'busybox', command: ['true'] }],
              },
            },
          },
        },
      },
    });
    assert.equal(foreign.status, 201, JSON.stringify(foreign.body));
    const before = foreign.body.metadata.resourceVersion;

    const r = await api('POST', PIPELINES, builtinIrisManifest('other'));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await eventually('Ready False with ObjectNotOurs', 30_000, async () => {
      const got = await get(`${PIPELINES}/other`);
      return condition(got, 'Ready')?.reason === 'ObjectNotOurs' ? got : undefined;
    });
    assert.equal(condition(p, 'Ready').status, 'False');
    assert.match(condition(p, 'Ready').message, /CronJob other-train/);
    assert.equal(condition(p, 'Degraded').status, 'True');

    const warning = await eventually('a Warning event', 15_000, async () =>
      (await events('other')).find((e) => e.type === 'Warning' && e.reason === 'ObjectNotOurs'),
    );
    assert.match(warning.message, /other-train/);
    const after = await get(`${CRONJOBS}/other-train`);
    assert.equal(after.metadata.resourceVersion, before, 'the foreign CronJob is unchanged');
    assert.equal(after.metadata.ownerReferences, undefined);
    // Its own objects are still made.
    assert.ok(await get(`${CRONJOBS}/other-collect`));
  });

  let runId: string;

  it('a run-now annotation creates the collect Job with the run id label', async () => {
    const value = new Date().toISOString();
    runId = runNowRunId('iris', value)!;
    const r = await api(
      'PATCH',
      `${PIPELINES}/iris`,
      { metadata: { annotations: { 'mlpipeline.dev/run-now': value } } },
      'application/merge-patch+json',
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));

    const job = await eventually('the collect Job', 30_000, () =>
      get(`${JOBS}/${jobName(runId, 'collect')}`),
    );
    assert.equal(job.metadata.labels['mlpipeline.dev/run-id'], runId);
    assert.equal(job.metadata.labels['mlpipeline.dev/stage'], 'collect');
    assert.equal(job.spec.template.metadata.annotations['mlpipeline.dev/run-id'], runId);
    const p = await eventually('the run in status', 30_000, async () => {
      const got = await get(`${PIPELINES}/iris`);
      return got?.status?.recentRuns?.[0]?.id === runId ? got : undefined;
    });
    assert.equal(p.status.recentRuns[0].stages[0].jobName, jobName(runId, 'collect'));
    assert.ok(
      (await events('iris')).some((e) => e.reason === 'RunStarted' && e.message.includes(runId)),
    );
  });

  it('a succeeded Job makes the leader, and only it, create the next Job exactly once', async () => {
    const jobPosts = () =>
      [...requests.values()].flat().filter((r) => r.method === 'POST' && r.url.includes('/jobs'))
        .length;
    const postsBefore = jobPosts();
    const acting = leader();
    assert.ok(acting);
    const standby = controllers.find((c) => c !== acting)!;
    const standbyWritesBefore = await standby.metrics.writes();

    await setJobStatus(jobName(runId, 'collect'), 'Complete');
    const clean = await eventually('the clean Job', 30_000, () =>
      get(`${JOBS}/${jobName(runId, 'clean')}`),
    );
    assert.equal(clean.metadata.labels['mlpipeline.dev/run-id'], runId);

    // Let every pass the status change caused run out, then count.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      jobPosts() - postsBefore,
      1,
      'one create request for the clean Job over both replicas',
    );
    assert.equal(
      await standby.metrics.writes(),
      standbyWritesBefore,
      'the standby replica wrote nothing',
    );
    const latency = await acting.metrics.chainingLatency.get();
    const count = latency.values.find((v) => v.metricName?.endsWith('_count'))?.value;
    assert.equal(count, 1);
  });

  it('a failed Job ends the run: status shows Failed and nothing after it starts', async () => {
    await setJobStatus(jobName(runId, 'clean'), 'Failed');
    const p = await eventually('the run Failed in status', 30_000, async () => {
      const got = await get(`${PIPELINES}/iris`);
      const run = got?.status?.recentRuns?.find((x: Obj) => x.id === runId);
      return run?.phase === 'Failed' ? got : undefined;
    });
    const run = p.status.recentRuns.find((x: Obj) => x.id === runId);
    assert.deepEqual(
      run.stages.map((s: Obj) => `${s.stage}:${s.phase}`),
      ['collect:Succeeded', 'clean:Failed', 'train:Skipped', 'predict:Skipped'],
    );
    assert.match(run.message, /BackoffLimitExceeded/);
    assert.equal(condition(p, 'Degraded').reason, 'RunFailed');
    assert.equal(p.status.lastRun.phase, 'Failed');
    await eventually('a RunFailed Warning event', 15_000, async () =>
      (await events('iris')).find((e) => e.type === 'Warning' && e.reason === 'RunFailed'),
    );
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await get(`${JOBS}/${jobName(runId, 'train')}`), undefined, 'no train Job');
  });

  it('shows the promoted model from the model store pointer', async () => {
    const store = new DirArtifactStore(modelDir);
    await store.put(
      'models/v20261204-153012-abcd/model.json',
      JSON.stringify({ version: 'v20261204-153012-abcd', trainedAt: '2026-12-04T15:30:12.000Z' }),
    );
    await store.put(
      'models/current.json',
      JSON.stringify({
        version: 'v20261204-153012-abcd',
        runId: 'iris-202612041530',
        promotedAt: '2026-12-04T15:30:20.000Z',
        metrics: { accuracy: 0.96, macroF1: 0.95 },
      }),
    );
    // A resync is what picks up a change outside the cluster.
    leader()!.queue.resync();
    const p = await eventually('ModelPromoted', 30_000, async () => {
      const got = await get(`${PIPELINES}/iris`);
      return condition(got, 'ModelPromoted')?.status === 'True' ? got : undefined;
    });
    assert.equal(p.status.currentModel.version, 'v20261204-153012-abcd');
    assert.equal(p.status.currentModel.accuracy, 0.96);
    assert.equal(p.status.currentModel.trainedAt, '2026-12-04T15:30:12.000Z');
  });

  it('a quiet resync makes no API write', async () => {
    const acting = leader()!;
    await new Promise((r) => setTimeout(r, 1500));
    await acting.queue.drain();
    const passes = async () =>
      (await acting.metrics.reconcileDuration.get()).values.find(
        (v) => v.metricName?.endsWith('_count') && v.labels.result === 'ok',
      )?.value ?? 0;
    const writesBefore = await acting.metrics.writes();
    const passesBefore = await passes();

    acting.queue.resync();
    await eventually('a pass of each pipeline', 15_000, async () =>
      (await passes()) >= passesBefore + 2 && acting.queue.depth === 0 && acting.queue.active === 0
        ? true
        : undefined,
    );
    assert.equal((await acting.metrics.writes()) - writesBefore, 0);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    const acting = leader()!;
    const base = `http://127.0.0.1:${acting.port}`;
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /mlpipeline_runs_started_total\{trigger="manual"\} 1/);
    assert.match(text, /mlpipeline_runs_failed_total 1/);
    assert.match(text, /mlpipeline_leader 1/);
    assert.match(text, /mlpipeline_workqueue_depth 0/);
  });

  it('a stage pod that succeeded starts the next Job before its Job is Complete; a failed one with retries left does not', async () => {
    const value = new Date().toISOString();
    const run = runNowRunId('iris', value)!;
    const annotated = await api(
      'PATCH',
      `${PIPELINES}/iris`,
      { metadata: { annotations: { 'mlpipeline.dev/run-now': value } } },
      'application/merge-patch+json',
    );
    assert.equal(annotated.status, 200, JSON.stringify(annotated.body));
    const collect = await eventually('the collect Job', 30_000, () =>
      get(`${JOBS}/${jobName(run, 'collect')}`),
    );

    // The pod as the Job controller and a kubelet would leave it; the Job's status stays untouched.
    const finishPod = async (of: Obj, phase: 'Succeeded' | 'Failed') => {
      const name = `${of.metadata.name}-${phase.toLowerCase()}`;
      const created = await api('POST', `/api/v1/namespaces/${NS}/pods`, {
        metadata: {
          name,
          labels: {
            ...of.spec.template.metadata.labels,
            'batch.kubernetes.io/job-name': of.metadata.name,
            'job-name': of.metadata.name,
          },
          ownerReferences: [
            {
              apiVersion: 'batch/v1',
              kind: 'Job',
              name: of.metadata.name,
              uid: of.metadata.uid,
              controller: true,
            },
          ],
        },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          containers: [{ name: 'stage', image: 'mlpipeline:test' }],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const at = new Date().toISOString();
      const exitCode = phase === 'Succeeded' ? 0 : 1;
      const reason = phase === 'Succeeded' ? 'Completed' : 'Error';
      const r = await api(
        'PATCH',
        `/api/v1/namespaces/${NS}/pods/${name}/status`,
        {
          status: {
            phase,
            containerStatuses: [
              {
                name: 'stage',
                image: 'mlpipeline:test',
                imageID: '',
                ready: false,
                restartCount: 0,
                state: { terminated: { exitCode, reason, startedAt: at, finishedAt: at } },
              },
            ],
          },
        },
        'application/merge-patch+json',
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };

    await finishPod(collect, 'Succeeded');
    const clean = await eventually('the clean Job', 15_000, () =>
      get(`${JOBS}/${jobName(run, 'clean')}`),
    );
    const collectNow = await get(`${JOBS}/${jobName(run, 'collect')}`);
    assert.equal(collectNow.status?.conditions, undefined, 'the collect Job has no condition yet');
    const shown = await eventually('collect Succeeded in status', 15_000, async () => {
      const got = await get(`${PIPELINES}/iris`);
      const r = got?.status?.recentRuns?.find((x: Obj) => x.id === run);
      return r?.stages?.[0]?.phase === 'Succeeded' ? r : undefined;
    });
    assert.equal(shown.phase, 'Running');

    await finishPod(clean, 'Failed');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await get(`${JOBS}/${jobName(run, 'train')}`), undefined, 'no train Job');
    const p = await get(`${PIPELINES}/iris`);
    const still = p.status.recentRuns.find((x: Obj) => x.id === run);
    assert.equal(still.phase, 'Running', 'the clean Job may still retry');
    assert.notEqual(still.stages[1].phase, 'Failed');
  });

  it('a stopped leader releases the Lease and the other replica takes over within seconds', async () => {
    const old = leader()!;
    const started = Date.now();
    await old.stop();
    controllers.splice(controllers.indexOf(old), 1);
    const next = await eventually('the other replica to lead', 10_000, () =>
      Promise.resolve(leader()),
    );
    const tookMs = Date.now() - started;
    assert.notEqual(next.identity, old.identity);
    assert.ok(tookMs < 3000, `takeover took ${tookMs} ms`);

    // The new leader acts: a spec edit reaches the CronJobs.
    const r = await api(
      'PATCH',
      `${PIPELINES}/iris`,
      { spec: { stages: { train: { retries: 2 } } } },
      'application/merge-patch+json',
    );
    assert.equal(r.status, 200);
    await eventually('the train CronJob to change', 30_000, async () => {
      const c = await get(`${CRONJOBS}/iris-train`);
      return c?.spec.jobTemplate.spec.backoffLimit === 2 ? true : undefined;
    });
  });

  it('deleting the MLPipeline removes its CronJobs and Jobs', async () => {
    const r = await api('DELETE', `${PIPELINES}/iris`);
    assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
    await eventually('the garbage collector to delete CronJobs and Jobs', 60_000, async () => {
      const cronJobs = await api(
        'GET',
        `${CRONJOBS}?labelSelector=${encodeURIComponent('mlpipeline.dev/pipeline=iris')}`,
      );
      const jobs = await api(
        'GET',
        `${JOBS}?labelSelector=${encodeURIComponent('mlpipeline.dev/pipeline=iris')}`,
      );
      return cronJobs.body.items.length === 0 && jobs.body.items.length === 0 ? true : undefined;
    });
    assert.equal(await get(`/api/v1/namespaces/${NS}/configmaps/iris-pipeline`), undefined);
  });
});
