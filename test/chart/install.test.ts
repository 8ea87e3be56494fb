/**
 * The Helm chart installed with `helm install` on the test control plane: the
 * controller and the UI run from their Deployments (pods the local kubelet
 * runs as processes), under the chart's own ServiceAccounts and RBAC, with
 * their tokens from the TokenRequest API as in a cluster; and the Iris
 * pipeline (MySQL source, S3 model store) goes from a run-now to a promoted
 * model and 150 predictions in MariaDB, shown in status and by the UI.
 *
 * Needs the services npm test starts (npm test -- test/chart/install). Skipped
 * when the control-plane binaries or helm are missing, unless
 * MLP_CLUSTER_REQUIRED=1 makes their absence a failure.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { parse } from 'yaml';

import { runNowRunId } from '../../controller/names.js';
import { testMysqlUrl, testS3 } from '../infra/env.js';
import { apiClient, clusterSkip, eventually, type Api } from '../cluster/api-client.js';
import {
  DEFAULT_CONTROLLERS,
  startControlPlane,
  type ControlPlane,
} from '../cluster/control-plane.js';
import { podLogFile, type LocalKubelet } from '../cluster/kubelet.js';
import { CHART, ROOT, helmOk, helmSkip } from './helm.js';
import { freePort } from '../infra/ports.js';
import { startProjectKubelet } from '../cluster/project-kubelet.js';

const DIR = join(ROOT, '.test-infra', 'chart-install');
const KUBELET_DIR = join(DIR, 'kubelet');
const NS = 'mlp-chart';
const RELEASE = 'mlpipeline';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const STAGES = ['collect', 'clean', 'train', 'predict'] as const;
const DATABASE = 'mlp_chart_cluster';
const UI_TOKEN = 'chart-test-token';
const RUN_TIMEOUT_MS = 3 * 60_000;
const START_TIMEOUT_MS = 90_000;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   API replies are read loosely here, as JSON: each check names the fields it reads. */
type Obj = any;

function withDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

/** GET a pod's server on this machine: the local kubelet runs pods on the host's network. */
async function fetchJson(url: string, init?: RequestInit): Promise<{ status: number; body: Obj }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: Obj;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

const skip = clusterSkip || helmSkip;

describe('the Helm chart on a real control plane', { skip, timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let api: Api<Obj>;
  let kubelet: LocalKubelet | undefined;
  let db: mysql.Connection | undefined;
  let s3: S3Client | undefined;
  let metricsPort: number;
  let uiPort: number;
  const helmHome = join(DIR, 'helm');
  const bucket = `chart-cluster-${Date.now().toString(36)}`;

  const get = async (path: string) => {
    const r = await api('GET', path);
    return r.status === 200 ? r.body : undefined;
  };
  const create = async (path: string, body: unknown) => {
    const r = await api('POST', path, body);
    assert.equal(r.status, 201, `POST ${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const podOf = async (component: string) => {
    const selector = encodeURIComponent(`app.kubernetes.io/component=${component}`);
    const r = await api('GET', `${PODS}?labelSelector=${selector}`);
    return r.body.items?.[0];
  };
  /** Both streams of a pod's container: JSON logs go to stdout, a crash to stderr. */
  const podLog = async (pod: Obj) => {
    const read = (stream: 'stdout' | 'stderr') =>
      readFile(
        podLogFile(KUBELET_DIR, NS, pod.metadata.name, pod.spec.containers[0].name, stream),
        'utf8',
      ).catch(() => '');
    return `${await read('stdout')}${await read('stderr')}`;
  };
  const available = (name: string) =>
    eventually(`deployment ${name} to be available`, START_TIMEOUT_MS, async () => {
      const d = await get(`/apis/apps/v1/namespaces/${NS}/deployments/${name}`);
      return d?.status?.availableReplicas === d?.spec?.replicas ? d : undefined;
    });

  before(async () => {
    await rm(DIR, { recursive: true, force: true });
    await mkdir(DIR, { recursive: true });
    // Deployments need their controllers; the ServiceAccount admission plugin's
    // token volume needs the kube-root-ca.crt ConfigMap in each namespace.
    cp = await startControlPlane({
      dir: join(DIR, 'control-plane'),
      controllers: [...DEFAULT_CONTROLLERS, 'deployment', 'replicaset', 'root-ca-cert-publisher'],
    });
    api = apiClient<Obj>(cp);

    // The chart's pods run `mlpipeline` (the image's entry point); here that is this checkout.
    kubelet = await startProjectKubelet({
      kubeconfig: cp.kubeconfig,
      workDir: KUBELET_DIR,
    });

    const dbUrl = withDatabase(testMysqlUrl(), DATABASE);
    const setup = await mysql.createConnection({ uri: testMysqlUrl() });
    await setup.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
    await setup.query(`CREATE DATABASE \`${DATABASE}\``);
    await setup.end();
    db = await mysql.createConnection({ uri: dbUrl, multipleStatements: true });
    await db.query(readFileSync(join(ROOT, 'examples/mysql/seed.sql'), 'utf8'));

    const t = testS3();
    s3 = new S3Client({
      endpoint: t.endpoint,
      region: t.region,
      forcePathStyle: true,
      credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    // What a user creates before installing: the namespace and the Secrets the values name.
    await create('/api/v1/namespaces', { metadata: { name: NS } });
    const secret = (name: string, data: Record<string, string>) =>
      create(`/api/v1/namespaces/${NS}/secrets`, { metadata: { name }, stringData: data });
    await secret('rds', { url: dbUrl });
    await secret('mlpipeline-db', { url: dbUrl });
    await secret('mlpipeline-s3', {
      AWS_ACCESS_KEY_ID: t.accessKeyId,
      AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
    });
    await secret('mlpipeline-ui-token', { token: UI_TOKEN });

    // Both servers listen on this machine, so on free ports and on loopback only.
    metricsPort = await freePort();
    uiPort = await freePort();
    await helmOk(
      [
        'install',
        RELEASE,
        CHART,
        '--namespace',
        NS,
        '--set',
        [
          'image.tag=test',
          'image.pullPolicy=Never',
          'database.secretName=mlpipeline-db',
          `s3.bucket=${bucket}`,
          's3.prefix=pipelines/',
          `s3.endpoint=${t.endpoint}`,
          `s3.region=${t.region}`,
          's3.credentialsSecretName=mlpipeline-s3',
          `controller.metrics.port=${metricsPort}`,
          'controller.metrics.address=127.0.0.1',
          `ui.port=${uiPort}`,
          'ui.address=127.0.0.1',
          'ui.apiToken.secretName=mlpipeline-ui-token',
          'ui.connectionSecrets={rds}',
        ].join(','),
      ],
      { home: helmHome, kubeconfig: cp.kubeconfig },
    );
  });

  after(async () => {
    await kubelet?.stop();
    await cp?.stop();
    if (db) {
      await db.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
      await db.end();
    }
    s3?.destroy();
  });

  it('installs the CRD and runs the controller under its own ServiceAccount, holding the Lease', async () => {
    const crd = await get(
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mlpipelines.mlpipeline.dev',
    );
    const project: Obj = parse(
      readFileSync(join(ROOT, 'crds/mlpipeline.dev_mlpipelines.yaml'), 'utf8'),
    );
    assert.deepEqual(
      crd?.spec.versions.map((v: Obj) => v.name),
      ['v1alpha1'],
    );
    assert.deepEqual(
      crd.spec.versions[0].schema.openAPIV3Schema.required,
      project.spec.versions[0].schema.openAPIV3Schema.required,
    );

    await available(`${RELEASE}-controller`);
    const pod = await podOf('controller');
    assert.equal(pod.spec.serviceAccountName, `${RELEASE}-controller`);
    assert.equal(pod.spec.nodeName, kubelet!.nodeName);
    // The admission plugin mounted the account's token; the kubelet handed it to the process.
    const mounts = pod.spec.containers[0].volumeMounts.map((m: Obj) => m.mountPath);
    assert.ok(mounts.includes('/var/run/secrets/kubernetes.io/serviceaccount'), mounts.join());

    const lease = await eventually('the leader Lease', 30_000, async () => {
      const l = await get(
        `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/mlpipeline-controller`,
      );
      return l?.spec?.holderIdentity ? l : undefined;
    });
    assert.ok(lease.spec.holderIdentity);
    const metrics = await fetchJson(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.body), /^mlpipeline_leader 1$/m);
    // Ready once every watch has synced: the MLPipeline watch may have started before the
    // API server served the CRD it installed a moment earlier, and is then restarted.
    await eventually('the controller to be ready', 30_000, async () => {
      const r = await fetchJson(`http://127.0.0.1:${metricsPort}/readyz`);
      return r.status === 200 ? true : undefined;
    });
  });

  it('runs the Iris pipeline through four stage pods to a promoted model and 150 predictions', async () => {
    const example: Obj = parse(readFileSync(join(ROOT, 'examples/mysql/iris-mysql.yaml'), 'utf8'));
    example.metadata = { name: 'iris' };
    // Once a year: no scheduled run starts beside the one the test asks for.
    example.spec.schedule = '0 0 1 1 *';
    await create(PIPELINES, example);
    await eventually('status Ready', 30_000, async () => {
      const p = await get(`${PIPELINES}/iris`);
      const ready = p?.status?.conditions?.find((c: Obj) => c.type === 'Ready');
      return ready?.status === 'True' ? true : undefined;
    });

    const requested = new Date().toISOString();
    const annotate = await api(
      'PATCH',
      `${PIPELINES}/iris`,
      { metadata: { annotations: { 'mlpipeline.dev/run-now': requested } } },
      'application/merge-patch+json',
    );
    assert.equal(annotate.status, 200, JSON.stringify(annotate.body));
    const runId = runNowRunId('iris', requested)!;

    const run = await eventually(`run ${runId} to finish`, RUN_TIMEOUT_MS, async () => {
      const p = await get(`${PIPELINES}/iris`);
      const r = p?.status?.recentRuns?.find((x: Obj) => x.id === runId);
      return r?.phase === 'Succeeded' || r?.phase === 'Failed' ? r : undefined;
    });
    assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
    assert.deepEqual(
      run.stages.map((s: Obj) => `${s.stage}:${s.phase}`),
      STAGES.map((s) => `${s}:Succeeded`),
    );

    const pipeline = await eventually('the model and predictions in status', 30_000, async () => {
      const p = await get(`${PIPELINES}/iris`);
      return p?.status?.currentModel && p?.status?.lastPredictions ? p : undefined;
    });
    const model = pipeline.status.currentModel;
    assert.ok(model.accuracy >= 0.9, `accuracy ${model.accuracy}`);
    const promoted = pipeline.status.conditions.find((c: Obj) => c.type === 'ModelPromoted');
    assert.equal(promoted.status, 'True');
    assert.equal(pipeline.status.lastPredictions.runId, runId);
    assert.equal(pipeline.status.lastPredictions.rows, 150);
    assert.equal(pipeline.status.lastPredictions.modelVersion, model.version);

    const [rows] = await db!.query<mysql.RowDataPacket[]>(
      'SELECT COUNT(*) AS n, MIN(model_version) AS v FROM predictions WHERE pipeline = ? AND run_id = ?',
      ['iris', runId],
    );
    assert.equal(Number(rows[0]!.n), 150);
    assert.equal(rows[0]!.v, model.version);

    // The stages ran as the chart's stage account, without a token.
    const selector = encodeURIComponent(`mlpipeline.dev/run-id=${runId}`);
    const pods = (await api('GET', `${PODS}?labelSelector=${selector}`)).body.items;
    assert.equal(pods.length, 4);
    for (const pod of pods) {
      assert.equal(pod.spec.serviceAccountName, `${RELEASE}-stage`);
      assert.equal(pod.spec.automountServiceAccountToken, false);
      assert.equal(pod.status.phase, 'Succeeded');
    }

    const controller = await podOf('controller');
    const log = await podLog(controller);
    assert.match(log, /caches filled/, 'the controller logged its start');
    assert.doesNotMatch(log, /forbidden/i, 'the chart RBAC refused the controller nothing');
  });

  it('serves the UI from its Deployment: the pipeline, its model and predictions, actions with the token', async () => {
    await available(`${RELEASE}-ui`);
    const ui = await podOf('ui');
    assert.equal(ui.spec.serviceAccountName, `${RELEASE}-ui`);
    const base = `http://127.0.0.1:${uiPort}`;

    const ready = await eventually('the UI to be ready', 30_000, async () => {
      const r = await fetchJson(`${base}/readyz`).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    assert.equal(ready.status, 200);

    const listed = await fetchJson(`${base}/api/pipelines`);
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.equal(listed.body.mode, 'kubernetes');
    const iris = listed.body.pipelines.find((p: Obj) => p.name === 'iris');
    assert.ok(iris, JSON.stringify(listed.body));
    assert.ok(iris.currentModel?.accuracy >= 0.9, JSON.stringify(iris));

    const predictions = await fetchJson(`${base}/api/pipelines/iris/predictions?limit=5`);
    assert.equal(predictions.status, 200, JSON.stringify(predictions.body));
    assert.equal(predictions.body.total, 150);

    const refused = await fetchJson(`${base}/api/pipelines/iris/suspend`, { method: 'POST' });
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    const suspended = await fetchJson(`${base}/api/pipelines/iris/suspend`, {
      method: 'POST',
      headers: { authorization: `Bearer ${UI_TOKEN}` },
    });
    assert.equal(suspended.status, 200, JSON.stringify(suspended.body));
    const p = await get(`${PIPELINES}/iris`);
    assert.equal(p.spec.suspend, true);

    assert.doesNotMatch(await podLog(ui), /forbidden/i, 'the chart RBAC refused the UI nothing');
  });
});
