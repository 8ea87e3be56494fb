/**
 * The Iris pipeline on a real control plane, end to end: its four stages run as
 * pods (local processes under the test kubelet) against MariaDB and an S3
 * server, chained by the controller, which runs under the least-privilege
 * RBAC of deploy/rbac with a ServiceAccount token, not as admin.
 *
 * Needs the services npm test starts (npm test -- test/cluster/iris). Skipped
 * when the control-plane binaries are missing, unless MLP_CLUSTER_REQUIRED=1
 * makes their absence a failure.
 */
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';

import { createLogger } from '../../core/log.js';
import type { ControllerSettings } from '../../controller/desired.js';
import { startController, type RunningController } from '../../controller/manager.js';
import { modelReader, s3Location } from '../../controller/model-reader.js';
import { jobName, runNowRunId } from '../../controller/names.js';
import { S3ArtifactStore } from '../../jobs/adapters/s3-artifact-store.js';
import { apiClient, clusterSkip, eventually, type Api } from './api-client.js';
import type { ControlPlane } from './control-plane.js';
import { startStageCluster, type StageCluster } from './stage-cluster.js';
import { applyRbac } from './rbac.js';
import { irisManifest } from './iris-example.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'iris');
const NS = 'mlp-iris';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const JOBS = `/apis/batch/v1/namespaces/${NS}/jobs`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const STAGES = ['collect', 'clean', 'train', 'predict'] as const;
const CONTROLLER_ACCOUNT = 'mlpipeline-controller';
const STAGE_ACCOUNT = 'mlpipeline-stage';
const DATABASE = 'mlp_iris_cluster';
const RUN_TIMEOUT_MS = 3 * 60_000;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   API replies are read loosely here, as JSON: each check names the fields it reads. */
type Obj = any;

const seconds = (t: string | undefined) => (t === undefined ? NaN : Date.parse(t));

describe(
  'the Iris pipeline on a real control plane',
  { skip: clusterSkip, timeout: 600_000 },
  () => {
    let cluster: StageCluster | undefined;
    let cp: ControlPlane;
    let api: Api<Obj>;
    let controller: RunningController | undefined;
    let controllerLog: WriteStream | undefined;
    let db: mysql.Connection | undefined;
    let s3: S3Client | undefined;
    const stores = new Map<string, S3ArtifactStore>();
    const watches: AbortController[] = [];
    let bucket: string;
    let controllerToken: string;

    // When this process saw each Job appear and each stage pod terminate successfully,
    // by Job name: API timestamps have whole seconds only.
    const jobSeenAt = new Map<string, number>();
    const podDoneSeenAt = new Map<string, number>();

    const get = async (path: string) => {
      const r = await api('GET', path);
      return r.status === 200 ? r.body : undefined;
    };
    const create = async (path: string, body: unknown) => {
      const r = await api('POST', path, body);
      assert.equal(r.status, 201, `POST ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const list = async (path: string, selector: string): Promise<Obj[]> => {
      const r = await api('GET', `${path}?labelSelector=${encodeURIComponent(selector)}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.items;
    };
    const runNow = async (pipeline: string) => {
      const value = new Date().toISOString();
      const r = await api(
        'PATCH',
        `${PIPELINES}/${pipeline}`,
        { metadata: { annotations: { 'mlpipeline.dev/run-now': value } } },
        'application/merge-patch+json',
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return runNowRunId(pipeline, value)!;
    };
    const finishedRun = (pipeline: string, runId: string) =>
      eventually(`run ${runId} to finish`, RUN_TIMEOUT_MS, async () => {
        const p = await get(`${PIPELINES}/${pipeline}`);
        const run = p?.status?.recentRuns?.find((r: Obj) => r.id === runId);
        return run?.phase === 'Succeeded' || run?.phase === 'Failed'
          ? { pipeline: p, run }
          : undefined;
      });

    const watchTimes = (kc: KubeConfig) => {
      const watch = new Watch(kc);
      // Only the figures depend on these watches; a lost one shows up as NaN there.
      const onError = (err: unknown) => {
        if (err instanceof Error && err.name !== 'AbortError') {
          console.log(`timing watch ended: ${err.message}`);
        }
      };
      const jobs = watch.watch(
        JOBS,
        {},
        (type: string, obj: Obj) => {
          const name: string = obj.metadata?.name;
          if (type === 'ADDED' && !jobSeenAt.has(name)) jobSeenAt.set(name, Date.now());
        },
        onError,
      );
      const pods = watch.watch(
        PODS,
        {},
        (_type: string, obj: Obj) => {
          const job: string | undefined = obj.metadata?.labels?.['batch.kubernetes.io/job-name'];
          const terminated = obj.status?.containerStatuses?.[0]?.state?.terminated;
          if (job && terminated?.exitCode === 0 && !podDoneSeenAt.has(job)) {
            podDoneSeenAt.set(job, Date.now());
          }
        },
        onError,
      );
      return Promise.all([jobs, pods]);
    };

    before(async () => {
      await mkdir(DIR, { recursive: true });
      cluster = await startStageCluster({
        dir: DIR,
        namespace: NS,
        database: DATABASE,
        bucketPrefix: 'iris-cluster',
      });
      ({ cp, db, s3, bucket } = cluster);
      api = cluster.api as Api<Obj>;
      const admin = cluster.admin;
      const t = cluster.s3Local;

      // The controller and the stage pods live in the test namespace, as in a one-namespace install.
      for (const file of ['controller-role.yaml', 'stage-role.yaml']) {
        await applyRbac(api, file, NS);
      }
      const token = await create(
        `/api/v1/namespaces/${NS}/serviceaccounts/${CONTROLLER_ACCOUNT}/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 3600 },
        },
      );
      controllerToken = token.status.token;
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'test',
            server: cp.server,
            caData: readFileSync(cp.tls.ca).toString('base64'),
            skipTLSVerify: false,
          },
        ],
        users: [{ name: CONTROLLER_ACCOUNT, token: controllerToken }],
        contexts: [{ name: 'controller', cluster: 'test', user: CONTROLLER_ACCOUNT }],
        currentContext: 'controller',
      });

      watches.push(...(await watchTimes(admin)));

      const settings: ControllerSettings = {
        ...cluster.settings,
        stageServiceAccount: STAGE_ACCOUNT,
      };
      controllerLog = createWriteStream(join(DIR, 'controller.log'));
      controller = await startController({
        kubeconfig: kc,
        settings,
        log: createLogger({ level: 'info', destination: controllerLog }),
        metricsPort: 0,
        metricsHost: '127.0.0.1',
        readModel: modelReader((pipeline) => {
          // The controller runs here: it reads the model store as this process does.
          const location = { ...s3Location(pipeline, settings)!, endpoint: t.endpoint };
          const key = JSON.stringify(location);
          let store = stores.get(key);
          if (store === undefined) {
            store = new S3ArtifactStore({
              ...location,
              credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
            });
            stores.set(key, store);
          }
          return store;
        }),
        leaderElection: { namespace: NS, identity: 'iris-test' },
      });
      await eventually('the controller to lead', 15_000, () =>
        Promise.resolve(controller!.isLeader() ? true : undefined),
      );
    });

    after(async () => {
      for (const w of watches) w.abort();
      await controller?.stop();
      for (const store of stores.values()) store.close();
      await new Promise<void>((r) => (controllerLog ? controllerLog.end(r) : r()));
      await cluster?.stop();
    });

    it('the controller token is least-privilege: it cannot read Secrets or touch MLPipeline specs', async () => {
      const asController = apiClient<Obj>(cp, controllerToken);
      const secrets = await asController('GET', `/api/v1/namespaces/${NS}/secrets`);
      assert.equal(secrets.status, 403, JSON.stringify(secrets.body));
      const pipelines = await asController('GET', PIPELINES);
      assert.equal(pipelines.status, 200, JSON.stringify(pipelines.body));
      const edit = await asController('POST', PIPELINES, irisManifest('not-allowed'));
      assert.equal(edit.status, 403, JSON.stringify(edit.body));
    });

    it('a run-now of the Iris pipeline goes through four stage pods to a promoted model and 150 predictions', async () => {
      await create(PIPELINES, irisManifest('iris'));
      await eventually('status Ready', 30_000, async () => {
        const p = await get(`${PIPELINES}/iris`);
        const ready = p?.status?.conditions?.find((c: Obj) => c.type === 'Ready');
        return ready?.status === 'True' ? true : undefined;
      });

      const runId = await runNow('iris');
      const { run } = await finishedRun('iris', runId);
      assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
      assert.deepEqual(
        run.stages.map((s: Obj) => [s.stage, s.phase, s.jobName]),
        STAGES.map((stage) => [stage, 'Succeeded', jobName(runId, stage)]),
      );

      const jobs = await list(JOBS, `mlpipeline.dev/run-id=${runId}`);
      assert.deepEqual(
        jobs.map((j) => j.metadata.name).sort(),
        STAGES.map((stage) => jobName(runId, stage)).sort(),
      );

      // The pointer and the predictions summary are read from S3; they may land a pass later than the run.
      const p = await eventually(
        'the promoted model and the predictions in status',
        30_000,
        async () => {
          const got = await get(`${PIPELINES}/iris`);
          return got?.status?.currentModel && got?.status?.lastPredictions ? got : undefined;
        },
      );
      const model = p.status.currentModel;
      assert.match(model.version, /^v\d{8}-\d{6}-/);
      assert.ok(model.accuracy >= 0.9, `accuracy ${model.accuracy}`);
      const promoted = p.status.conditions.find((c: Obj) => c.type === 'ModelPromoted');
      assert.equal(promoted.status, 'True');
      assert.equal(p.status.lastRun.id, runId);
      assert.equal(p.status.lastRun.phase, 'Succeeded');
      const { time: scoredAt, ...predictions } = p.status.lastPredictions;
      assert.deepEqual(predictions, {
        runId,
        rows: 150,
        table: 'predictions',
        modelVersion: model.version,
      });
      const predictStage = run.stages.find((s: Obj) => s.stage === 'predict');
      assert.ok(
        seconds(scoredAt) >= seconds(predictStage.startTime),
        `predictions scored at ${scoredAt}, predict started at ${predictStage.startTime}`,
      );

      const [rows] = await db!.query<mysql.RowDataPacket[]>(
        'SELECT row_key, model_version FROM predictions WHERE pipeline = ? AND run_id = ? ORDER BY CAST(row_key AS UNSIGNED)',
        ['iris', runId],
      );
      assert.equal(rows.length, 150);
      assert.deepEqual(
        rows.map((r) => r.row_key),
        Array.from({ length: 150 }, (_, i) => String(i + 1)),
      );
      assert.ok(rows.every((r) => r.model_version === model.version));

      const listed = await s3!.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: 'pipelines/iris/models/' }),
      );
      const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
      assert.deepEqual(keys, [
        'pipelines/iris/models/current.json',
        `pipelines/iris/models/${model.version}/model.json`,
      ]);

      const pods = await list(PODS, `mlpipeline.dev/run-id=${runId}`);
      assert.equal(pods.length, 4);
      for (const pod of pods) {
        assert.ok(pod.spec.nodeName, 'the pod was scheduled');
        assert.equal(pod.status.phase, 'Succeeded');
        assert.match(await cluster!.podLog(pod.metadata.name, 'stage'), /stage succeeded/);
      }

      await reportChaining(runId, jobs, pods);
      const controllerText = await readFile(join(DIR, 'controller.log'), 'utf8');
      assert.doesNotMatch(controllerText, /forbidden/i, 'the controller was refused nothing');
    });

    it('a stage that fails marks the run Failed with the pod reason and starts nothing after it', async () => {
      await create(PIPELINES, irisManifest('iris-broken', { sourceTable: 'no_such_table' }));
      const runId = await runNow('iris-broken');
      const { pipeline, run } = await finishedRun('iris-broken', runId);

      assert.equal(run.phase, 'Failed', JSON.stringify(run));
      assert.deepEqual(
        run.stages.map((s: Obj) => `${s.stage}:${s.phase}`),
        ['collect:Failed', 'clean:Skipped', 'train:Skipped', 'predict:Skipped'],
      );
      const collect = run.stages[0];
      assert.equal(collect.jobName, jobName(runId, 'collect'));
      assert.match(collect.message, /Error \(exit code 1\)/);
      // The cause, from the stage's own log through the pod's termination message.
      assert.match(collect.message, /source table no_such_table does not exist/);
      assert.match(run.message, /stage collect failed/);
      const degraded = pipeline.status.conditions.find((c: Obj) => c.type === 'Degraded');
      assert.equal(degraded.status, 'True');
      assert.equal(degraded.reason, 'RunFailed');

      // The controller had its chance to chain (it already wrote the failure); nothing follows.
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(await get(`${JOBS}/${jobName(runId, 'clean')}`), undefined, 'no clean Job');
      const jobs = await list(JOBS, `mlpipeline.dev/run-id=${runId}`);
      assert.deepEqual(
        jobs.map((j) => j.metadata.name),
        [jobName(runId, 'collect')],
      );
    });

    /** Prints how long each link of the chain took: figures for the report, not assertions. */
    async function reportChaining(runId: string, jobs: Obj[], pods: Obj[]) {
      const created = new Map<string, number>(
        jobs.map((j) => [j.metadata.name, seconds(j.metadata.creationTimestamp)]),
      );
      const finished = new Map<string, number>(
        pods.map((p) => [
          p.metadata.labels['batch.kubernetes.io/job-name'],
          seconds(p.status.containerStatuses?.[0]?.state?.terminated?.finishedAt),
        ]),
      );
      for (let i = 1; i < STAGES.length; i++) {
        const before = jobName(runId, STAGES[i - 1]!);
        const next = jobName(runId, STAGES[i]!);
        const byTimestamps = created.get(next)! - finished.get(before)!;
        const seen = (jobSeenAt.get(next) ?? NaN) - (podDoneSeenAt.get(before) ?? NaN);
        console.log(
          `chaining ${STAGES[i - 1]} -> ${STAGES[i]}: ${seen} ms as watched, ` +
            `${byTimestamps} ms by API timestamps (whole seconds)`,
        );
      }
      const histogram = (await controller!.metrics.chainingLatency.get()).values;
      const sum = histogram.find((v) => v.metricName?.endsWith('_sum'))?.value ?? NaN;
      const count = histogram.find((v) => v.metricName?.endsWith('_count'))?.value ?? NaN;
      console.log(
        `chaining latency by the controller's metric: ${count} links, mean ${sum / count} s`,
      );
    }
  },
);
