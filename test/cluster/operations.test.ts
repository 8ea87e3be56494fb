/**
 * Day-two operations on a real control plane, as a user sees them: suspending
 * and resuming a pipeline, the controller stopped in the middle of a run and
 * started again, two replicas under leader election through a whole run, and
 * a spec edit followed by a quiet period. Stage pods are local processes
 * under the test kubelet, running the MySQL Iris example against MariaDB and
 * the S3 server that npm test starts.
 *
 * Run through npm test (npm test -- test/cluster/operations). Skipped when the
 * control-plane binaries are missing, unless MLP_CLUSTER_REQUIRED=1 makes
 * their absence a failure.
 */
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { KubeConfig } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import { parse } from 'yaml';

import { createLogger } from '../../core/log.js';
import type { StageName } from '../../core/ports.js';
import type { ControllerSettings } from '../../controller/desired.js';
import type { RequestRecord } from '../../controller/kube.js';
import { startController, type RunningController } from '../../controller/manager.js';
import { cronJobName, jobName, runNowRunId } from '../../controller/names.js';
import { testMysqlUrl, testS3 } from '../infra/env.js';
import { apiClient, clusterSkip, eventually, sleep, type Api } from './api-client.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { startLocalKubelet, type LocalKubelet } from './kubelet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'operations');
const NS = 'mlp-operations';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const CRONJOBS = `/apis/batch/v1/namespaces/${NS}/cronjobs`;
const JOBS = `/apis/batch/v1/namespaces/${NS}/jobs`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const STAGES: readonly StageName[] = ['collect', 'clean', 'train', 'predict'];
const DATABASE = 'mlp_operations_cluster';
const RUN_TIMEOUT_MS = 3 * 60_000;
/** Short enough that a handover between tests, or after a stop, costs seconds, not the default 15. */
const LEASE_TIMING = {
  leaseDurationMs: 4000,
  renewDeadlineMs: 3000,
  renewPeriodMs: 1000,
  retryPeriodMs: 500,
};

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   API replies are read loosely here, as JSON: each check names the fields it reads. */
type Obj = any;

/** Requests as the cluster admin, by the control plane's client certificate. */
/** The MySQL Iris example under another name, with the schedule given. */
function irisPipeline(name: string, spec: Record<string, unknown> = {}): Obj {
  const example: Obj = parse(readFileSync(join(ROOT, 'examples/mysql/iris-mysql.yaml'), 'utf8'));
  return {
    ...example,
    metadata: { name },
    // Once a year unless a test says otherwise: only the runs a test asks for start.
    spec: { ...example.spec, schedule: '0 0 1 1 *', ...spec },
  };
}

const condition = (pipeline: Obj, type: string) =>
  (pipeline?.status?.conditions ?? []).find((c: Obj) => c.type === type);

describe(
  'operating pipelines on a real control plane',
  { skip: clusterSkip, timeout: 900_000 },
  () => {
    let cp: ControlPlane;
    let api: Api<Obj>;
    let kc: KubeConfig;
    let kubelet: LocalKubelet | undefined;
    let db: mysql.Connection | undefined;
    let s3: S3Client | undefined;
    let settings: ControllerSettings;
    let logFile: WriteStream | undefined;
    const running = new Set<RunningController>();
    const requests = new Map<string, RequestRecord[]>();

    const startReplica = async (identity: string, resyncMs = 10 * 60_000) => {
      const seen: RequestRecord[] = [];
      requests.set(identity, seen);
      const controller = await startController({
        kubeconfig: kc,
        namespace: NS,
        settings,
        log: createLogger({ level: 'info', destination: logFile! }).child({ replica: identity }),
        resyncMs,
        leaderElection: { namespace: NS, identity, timing: LEASE_TIMING },
        onRequest: (r) => seen.push(r),
      });
      running.add(controller);
      return controller;
    };
    const stopReplica = async (controller: RunningController) => {
      running.delete(controller);
      await controller.stop();
    };
    const leaderOf = (controllers: RunningController[]) =>
      eventually('a replica to hold the Lease', 20_000, () =>
        Promise.resolve(controllers.find((c) => c.isLeader())),
      );

    const get = async (path: string) => {
      const r = await api('GET', path);
      return r.status === 200 ? r.body : undefined;
    };
    const create = async (path: string, body: unknown) => {
      const r = await api('POST', path, body);
      assert.equal(r.status, 201, `POST ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const patch = async (path: string, body: unknown) => {
      const r = await api('PATCH', path, body, 'application/merge-patch+json');
      assert.equal(r.status, 200, `PATCH ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const list = async (path: string, selector: string): Promise<Obj[]> => {
      const r = await api('GET', `${path}?labelSelector=${encodeURIComponent(selector)}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.items;
    };
    const pipeline = (name: string) => get(`${PIPELINES}/${name}`);
    const runNow = async (name: string) => {
      const value = new Date().toISOString();
      await patch(`${PIPELINES}/${name}`, {
        metadata: { annotations: { 'mlpipeline.dev/run-now': value } },
      });
      return { value, runId: runNowRunId(name, value)! };
    };
    const ready = (name: string) =>
      eventually(`${name} Ready`, 30_000, async () => {
        const p = await pipeline(name);
        return condition(p, 'Ready')?.status === 'True' ? p : undefined;
      });
    const finishedRun = (name: string, runId: string) =>
      eventually(`run ${runId} to finish`, RUN_TIMEOUT_MS, async () => {
        const p = await pipeline(name);
        const run = p?.status?.recentRuns?.find((r: Obj) => r.id === runId);
        return run?.phase === 'Succeeded' || run?.phase === 'Failed' ? run : undefined;
      });
    const jobsOfRun = async (runId: string) =>
      (await list(JOBS, `mlpipeline.dev/run-id=${runId}`)).map((j) => j.metadata.name).sort();
    const expectedJobs = (runId: string) => STAGES.map((stage) => jobName(runId, stage)).sort();
    const deletePipeline = async (name: string) => {
      const r = await api('DELETE', `${PIPELINES}/${name}`);
      assert.ok(r.status === 200 || r.status === 202, JSON.stringify(r.body));
      await eventually(`the Jobs of ${name} to be collected`, 60_000, async () =>
        (await list(JOBS, `mlpipeline.dev/pipeline=${name}`)).length === 0 ? true : undefined,
      );
    };

    before(async () => {
      await mkdir(DIR, { recursive: true });
      cp = await startControlPlane({ dir: join(DIR, 'control-plane') });
      api = apiClient<Obj>(cp);
      kc = new KubeConfig();
      kc.loadFromFile(cp.kubeconfig);
      logFile = createWriteStream(join(DIR, 'controller.log'));

      // Only PATH reaches the stage processes; tsx by path, as their working folders have no node_modules.
      kubelet = await startLocalKubelet({
        kubeconfig: cp.kubeconfig,
        workDir: join(DIR, 'kubelet'),
        imageCommands: {
          mlpipeline: [
            process.execPath,
            '--import',
            import.meta.resolve('tsx'),
            join(ROOT, 'cli/main.ts'),
          ],
        },
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });

      // A database of this file's own, so no other test truncates its tables during a run.
      const dbUrl = new URL(testMysqlUrl());
      dbUrl.pathname = `/${DATABASE}`;
      const setup = await mysql.createConnection({ uri: testMysqlUrl() });
      await setup.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
      await setup.query(`CREATE DATABASE \`${DATABASE}\``);
      await setup.end();
      db = await mysql.createConnection({ uri: dbUrl.toString(), multipleStatements: true });
      await db.query(readFileSync(join(ROOT, 'examples/mysql/seed.sql'), 'utf8'));

      const t = testS3();
      const bucket = `operations-${Date.now().toString(36)}`;
      s3 = new S3Client({
        endpoint: t.endpoint,
        region: t.region,
        forcePathStyle: true,
        credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
      });
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));

      await create('/api/v1/namespaces', { metadata: { name: NS } });
      const secrets = {
        rds: { url: dbUrl.toString() },
        'mlpipeline-db': { url: dbUrl.toString() },
        'mlpipeline-s3': {
          AWS_ACCESS_KEY_ID: t.accessKeyId,
          AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
        },
      };
      for (const [name, stringData] of Object.entries(secrets)) {
        await create(`/api/v1/namespaces/${NS}/secrets`, { metadata: { name }, stringData });
      }
      await create(`/api/v1/namespaces/${NS}/serviceaccounts`, {
        metadata: { name: 'mlpipeline-stage' },
        automountServiceAccountToken: false,
      });
      const crd: unknown = parse(
        readFileSync(join(ROOT, 'crds/mlpipeline.dev_mlpipelines.yaml'), 'utf8'),
      );
      await create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      await eventually('the mlpipelines resource to be served', 30_000, async () =>
        (await api('GET', PIPELINES)).status === 200 ? true : undefined,
      );

      settings = {
        image: 'mlpipeline',
        imagePullPolicy: 'Never',
        stageServiceAccount: 'mlpipeline-stage',
        databaseSecret: 'mlpipeline-db',
        s3: {
          bucket,
          prefix: 'pipelines/',
          endpoint: t.endpoint,
          region: t.region,
          credentialsSecret: 'mlpipeline-s3',
        },
      };
    });

    after(async () => {
      for (const controller of [...running]) await stopReplica(controller);
      await new Promise<void>((resolve) => (logFile ? logFile.end(resolve) : resolve()));
      await kubelet?.stop();
      await cp?.stop();
      if (db) {
        await db.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
        await db.end();
      }
      s3?.destroy();
    });

    describe('suspend and resume', () => {
      let controller: RunningController;

      before(async () => {
        // Resyncs every 2 s: a suspended pipeline asks for no pass at its slots, so these are what see them.
        controller = await startReplica('suspend', 2000);
        await leaderOf([controller]);
      });

      after(async () => {
        await stopReplica(controller);
        // An every-minute pipeline would start runs under the next tests' controllers.
        for (const name of ['paused', 'paused-run-now']) {
          if (await pipeline(name)) await deletePipeline(name);
        }
      });

      it('a slot that falls due while suspended starts nothing, and Suspended is True', async () => {
        await create(PIPELINES, irisPipeline('paused', { schedule: '* * * * *', suspend: true }));
        const created = await ready('paused');
        const suspended = condition(created, 'Suspended');
        assert.equal(suspended.status, 'True');
        assert.equal(suspended.reason, 'Suspended');
        assert.equal(created.status.nextScheduleTime, undefined, 'no next run is announced');

        const createdAt = Date.parse(created.metadata.creationTimestamp);
        const slot = Math.ceil((createdAt + 1000) / 60_000) * 60_000;
        const passed = await eventually('the slot to be marked passed', 90_000, async () => {
          const p = await pipeline('paused');
          const times = Object.values<string>(p?.status?.lastScheduleTimes ?? {});
          return times.some((t) => Date.parse(t) >= slot) ? p : undefined;
        });
        // Passes that a Job creation would cause have had time to happen.
        await sleep(2000);
        assert.deepEqual(await list(JOBS, 'mlpipeline.dev/pipeline=paused'), [], 'no Job started');
        assert.deepEqual(passed.status.recentRuns ?? [], [], 'no run in status');
        assert.equal(condition(passed, 'Suspended').status, 'True');
        assert.equal(condition(passed, 'Ready').status, 'True');
      });

      it('a run-now annotation on a suspended pipeline starts nothing and says why', async () => {
        await create(PIPELINES, irisPipeline('paused-run-now', { suspend: true }));
        await ready('paused-run-now');
        const asked = await runNow('paused-run-now');
        const seen = await eventually('the run-now to be handled', 30_000, async () => {
          const p = await pipeline('paused-run-now');
          return p?.status?.handledRunNow === asked.value ? p : undefined;
        });
        await sleep(2000);
        assert.deepEqual(
          (await list(JOBS, 'mlpipeline.dev/pipeline=paused-run-now')).map((j) => j.metadata.name),
          [],
          'no Job started',
        );
        assert.deepEqual(seen.status.recentRuns ?? [], [], 'no run in status');
        assert.equal(condition(seen, 'Suspended').status, 'True');
        const events = await api(
          'GET',
          `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=paused-run-now')}`,
        );
        assert.ok(
          events.body.items.some((e: Obj) => e.type === 'Warning' && /suspended/.test(e.message)),
          'a Warning event says the run-now was ignored',
        );
      });

      it('resumed, Suspended turns False and a run-now starts a run that succeeds', async () => {
        await patch(`${PIPELINES}/paused`, { spec: { suspend: false } });
        const resumed = await eventually('Suspended False', 30_000, async () => {
          const p = await pipeline('paused');
          return condition(p, 'Suspended')?.status === 'False' ? p : undefined;
        });
        assert.equal(condition(resumed, 'Suspended').reason, 'Scheduling');
        assert.ok(resumed.status.nextScheduleTime, 'the next run is announced again');
        const events = await api(
          'GET',
          `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=paused')}`,
        );
        assert.ok(
          events.body.items.some((e: Obj) => e.reason === 'Resumed'),
          'a Resumed event is recorded',
        );

        const { runId } = await runNow('paused');
        const collect = await eventually('the collect Job of the run', 30_000, () =>
          get(`${JOBS}/${jobName(runId, 'collect')}`),
        );
        assert.equal(collect.metadata.labels['mlpipeline.dev/run-id'], runId);
        const run = await finishedRun('paused', runId);
        assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
      });
    });

    it('a controller stopped while a stage pod runs leaves the chain to the next instance, which finishes it with one Job per stage', async () => {
      const first = await startReplica('before-restart');
      let second: RunningController | undefined;
      try {
        await leaderOf([first]);
        await create(PIPELINES, irisPipeline('restart'));
        await ready('restart');
        const { runId } = await runNow('restart');

        // A stage before predict, so that a link of the chain is left for the next instance.
        const stage = await eventually(
          'a collect, clean or train pod running',
          60_000,
          async () => {
            const pods = await list(PODS, `mlpipeline.dev/run-id=${runId}`);
            const runningPod = pods.find((p) => p.status?.phase === 'Running');
            const job: string | undefined =
              runningPod?.metadata.labels['batch.kubernetes.io/job-name'];
            return STAGES.find((s) => job === jobName(runId, s));
          },
          50,
        );
        assert.notEqual(stage, 'predict', 'the run was caught too late to test a restart');
        await stopReplica(first);

        // Nobody chains while no controller runs: every Job there is finishes, and no new one appears.
        const left = await jobsOfRun(runId);
        assert.ok(left.length < STAGES.length, `stopped with ${left.join(', ')}`);
        await eventually('the Jobs left to finish', 60_000, async () => {
          const jobs = await list(JOBS, `mlpipeline.dev/run-id=${runId}`);
          return jobs.every((j) =>
            (j.status?.conditions ?? []).some(
              (c: Obj) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
            ),
          )
            ? true
            : undefined;
        });
        await sleep(2000);
        assert.deepEqual(await jobsOfRun(runId), left, 'no Job was created while stopped');

        second = await startReplica('after-restart');
        const run = await finishedRun('restart', runId);
        assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
        assert.deepEqual(await jobsOfRun(runId), expectedJobs(runId));
        const pods = await list(PODS, `mlpipeline.dev/run-id=${runId}`);
        assert.equal(pods.length, STAGES.length, 'one pod per stage');
        const chained = requests
          .get('after-restart')!
          .filter((r) => r.method === 'POST' && r.url.includes('/jobs'));
        assert.equal(
          chained.length,
          STAGES.length - left.length,
          'the new instance created only the missing Jobs',
        );
      } finally {
        if (running.has(first)) await stopReplica(first);
        if (second) await stopReplica(second);
      }
    });

    it('two replicas under leader election run a whole chain with exactly one Job per stage', async () => {
      const replicas = [await startReplica('replica-a'), await startReplica('replica-b')];
      try {
        const leader = await leaderOf(replicas);
        const standby = replicas.find((r) => r !== leader)!;
        const standbyWrites = await standby.metrics.writes();
        await create(PIPELINES, irisPipeline('replicas'));
        await ready('replicas');
        const jobPosts = () =>
          ['replica-a', 'replica-b'].flatMap((name) =>
            requests.get(name)!.filter((r) => r.method === 'POST' && r.url.includes('/jobs')),
          );
        const postsBefore = jobPosts().length;

        const { runId } = await runNow('replicas');
        const run = await finishedRun('replicas', runId);
        assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
        assert.deepEqual(
          run.stages.map((s: Obj) => [s.stage, s.phase, s.jobName]),
          STAGES.map((stage) => [stage, 'Succeeded', jobName(runId, stage)]),
        );
        assert.deepEqual(await jobsOfRun(runId), expectedJobs(runId));
        assert.equal(
          (await list(PODS, `mlpipeline.dev/run-id=${runId}`)).length,
          STAGES.length,
          'one pod per stage',
        );
        assert.equal(jobPosts().length - postsBefore, STAGES.length, 'one Job create per stage');
        assert.ok(leader.isLeader() && !standby.isLeader(), 'the leadership did not move');
        assert.equal(await standby.metrics.writes(), standbyWrites, 'the standby wrote nothing');
      } finally {
        for (const r of replicas) await stopReplica(r);
      }
    });

    it('a spec edit updates the CronJob, and the quiet period after it writes nothing', async () => {
      // Resyncs every 2 s, so the quiet period below holds several passes of every pipeline.
      const controller = await startReplica('edit', 2000);
      try {
        await leaderOf([controller]);
        await create(PIPELINES, irisPipeline('edit'));
        await ready('edit');
        const train = await get(`${CRONJOBS}/${cronJobName('edit', 'train')}`);
        assert.equal(train.spec.jobTemplate.spec.backoffLimit, 2, 'the example has 2 retries');

        const edited = await patch(`${PIPELINES}/edit`, {
          spec: { stages: { train: { retries: 5 } } },
        });
        await eventually('the train CronJob to change', 30_000, async () => {
          const cj = await get(`${CRONJOBS}/${cronJobName('edit', 'train')}`);
          return cj?.spec.jobTemplate.spec.backoffLimit === 5 ? true : undefined;
        });
        await eventually('observedGeneration to follow', 30_000, async () => {
          const p = await pipeline('edit');
          return p?.status?.observedGeneration === edited.metadata.generation ? true : undefined;
        });
        const collect = await get(`${CRONJOBS}/${cronJobName('edit', 'collect')}`);
        assert.equal(collect.spec.jobTemplate.spec.backoffLimit, 0, 'other stages keep theirs');

        // The edit's own passes (and the status write's echo) settle first.
        await sleep(3000);
        const passes = async () =>
          (await controller.metrics.reconcileDuration.get()).values.find(
            (v) => v.metricName?.endsWith('_count') && v.labels.result === 'ok',
          )?.value ?? 0;
        const seen = requests.get('edit')!;
        const requestsBefore = seen.length;
        const metricWritesBefore = await controller.metrics.writes();
        const passesBefore = await passes();
        const pipelines = (await api('GET', PIPELINES)).body.items.length;

        await sleep(7000);
        assert.ok(
          (await passes()) - passesBefore >= 2 * pipelines,
          'every pipeline was resynced at least twice',
        );
        const writes = seen.slice(requestsBefore).filter((r) => r.method !== 'GET');
        assert.deepEqual(
          writes.map((r) => `${r.method} ${r.url}`),
          [],
          'no request but reads',
        );
        assert.equal((await controller.metrics.writes()) - metricWritesBefore, 0);
      } finally {
        await stopReplica(controller);
      }
    });
  },
);
