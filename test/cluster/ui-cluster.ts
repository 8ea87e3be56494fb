/**
 * A cluster with `mlpipeline ui` serving it, for the suites that drive the UI
 * in Kubernetes mode (test/cluster/ui-api.test.ts through the HTTP API,
 * test/browser/kubernetes-ui.test.ts through Chromium): a control plane, the
 * local kubelet running stage pods (named `localhost`, and with
 * kubelet-logs.ts serving their logs, so pods/log works through the API
 * server), MariaDB seeded with the Iris example, an S3 bucket, the controller
 * under its Role, and `mlpipeline ui` as its own process with only the
 * environment its Deployment would have and the UI Role's token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { KubeConfig } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';

import { createLogger } from '../../core/log.js';
import type { ControllerSettings } from '../../controller/desired.js';
import { startController, type RunningController } from '../../controller/manager.js';
import { modelReader, s3Location } from '../../controller/model-reader.js';
import { S3ArtifactStore } from '../../jobs/adapters/s3-artifact-store.js';
import { testMysqlUrl, testS3 } from '../infra/env.js';
import { apiClient, createNamespace, ensureCrd, eventually, type Api } from './api-client.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { serveContainerLogs } from './kubelet-logs.js';
import { withDatabase } from './stage-cluster.js';
import { startProjectKubelet } from './project-kubelet.js';
import { applyRbac } from './rbac.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** A node name the API server can resolve when it asks the kubelet for a log. */
const NODE_NAME = 'localhost';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return --
   API objects are built and read loosely here, as JSON. */
type Obj = any;

export interface UiClusterOptions {
  /** Folder for the control plane, the kubelet's pods, and the controller's and UI's logs. */
  dir: string;
  namespace: string;
  /** The suite's own database, created afresh and dropped at stop. */
  database: string;
  /** MLPIPELINE_API_TOKEN of the UI. */
  apiToken: string;
  /** MLPipelines created before the UI starts. */
  pipelines: Obj[];
  /** The built web app, for the browser suites. */
  webRoot?: string;
}

export interface UiCluster {
  cp: ControlPlane;
  /** As the cluster admin. */
  api: Api<Obj>;
  namespace: string;
  /** Where `mlpipeline ui` listens, without a trailing slash. */
  base: string;
  /** The UI ServiceAccount's token: what the UI talks to the API server as. */
  uiAccountToken: string;
  /** The model store's bucket; `${bucket}-missing` does not exist. */
  bucket: string;
  db: mysql.Connection;
  /** The UI's output: its JSON log and anything on stderr. */
  uiLogFile: string;
  stop(): Promise<void>;
}

/** A kubeconfig for a ServiceAccount token, with ns as its namespace. */
function tokenKubeconfig(cp: ControlPlane, user: string, token: string, ns: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'test',
        cluster: {
          server: cp.server,
          'certificate-authority-data': readFileSync(cp.tls.ca).toString('base64'),
        },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: user, context: { cluster: 'test', user, namespace: ns } }],
    'current-context': user,
  });
}

/** `mlpipeline ui` as its own process; resolves with the address it prints. */
async function startUiProcess(
  dir: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; log: WriteStream; base: string }> {
  const log = createWriteStream(join(dir, 'ui.log'));
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(ROOT, 'cli/main.ts'), 'ui'],
    { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr.pipe(log, { end: false });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) =>
      reject(new Error(`mlpipeline ui exited with ${code}; see ${join(dir, 'ui.log')}`)),
    ),
  );
  const address = new Promise<string>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.write(`${line}\n`);
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'ui started' && entry.address) resolve(entry.address.replace(/\/$/, ''));
    });
  });
  return { child, log, base: await Promise.race([address, exited]) };
}

export async function startUiCluster(opts: UiClusterOptions): Promise<UiCluster> {
  const { dir, namespace: ns } = opts;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const undo of stops.splice(0).reverse()) await undo();
  };
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const cp = await startControlPlane({ dir: join(dir, 'control-plane') });
    stops.push(() => cp.stop());
    const api = apiClient<Obj>(cp);
    const create = async (path: string, body: unknown) => {
      const r = await api('POST', path, body);
      if (r.status !== 201) throw new Error(`POST ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };

    const kubeletDir = join(dir, 'kubelet');
    const kubelet = await startProjectKubelet({
      kubeconfig: cp.kubeconfig,
      nodeName: NODE_NAME,
      workDir: kubeletDir,
    });
    stops.push(() => kubelet.stop());
    const logServer = await serveContainerLogs({
      api,
      nodeName: NODE_NAME,
      workDir: kubeletDir,
      dir: join(dir, 'pki'),
    });
    stops.push(() => logServer.stop());

    const dbUrl = withDatabase(testMysqlUrl(), opts.database);
    const setup = await mysql.createConnection({ uri: testMysqlUrl() });
    await setup.query(`DROP DATABASE IF EXISTS \`${opts.database}\``);
    await setup.query(`CREATE DATABASE \`${opts.database}\``);
    await setup.end();
    const db = await mysql.createConnection({ uri: dbUrl, multipleStatements: true });
    stops.push(async () => {
      await db.query(`DROP DATABASE IF EXISTS \`${opts.database}\``);
      await db.end();
    });
    await db.query(readFileSync(join(ROOT, 'examples/mysql/seed.sql'), 'utf8'));

    const t = testS3();
    const s3 = new S3Client({
      endpoint: t.endpoint,
      region: t.region,
      forcePathStyle: true,
      credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    });
    stops.push(() => Promise.resolve(s3.destroy()));
    const bucket = `${ns}-${Date.now().toString(36)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    await createNamespace(cp, api, ns);
    const secret = (name: string, data: Record<string, string>) =>
      create(`/api/v1/namespaces/${ns}/secrets`, { metadata: { name }, stringData: data });
    await secret('rds', { url: dbUrl });
    await secret('mlpipeline-db', { url: dbUrl });
    await secret('mlpipeline-s3', {
      AWS_ACCESS_KEY_ID: t.accessKeyId,
      AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
    });
    await ensureCrd(api);

    for (const file of ['controller-role.yaml', 'stage-role.yaml', 'ui-role.yaml']) {
      await applyRbac(api, file, ns);
    }
    const tokenOf = async (account: string): Promise<string> =>
      (
        await create(`/api/v1/namespaces/${ns}/serviceaccounts/${account}/token`, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 3600 },
        })
      ).status.token;

    // The controller, in this process, with its own Role's token.
    const controllerKc = new KubeConfig();
    controllerKc.loadFromString(
      tokenKubeconfig(cp, 'mlpipeline-controller', await tokenOf('mlpipeline-controller'), ns),
    );
    const settings: ControllerSettings = {
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
    const stores = new Map<string, S3ArtifactStore>();
    stops.push(() => Promise.resolve(stores.forEach((store) => store.close())));
    const controllerLog = createWriteStream(join(dir, 'controller.log'));
    stops.push(() => new Promise<void>((resolve) => controllerLog.end(resolve)));
    const controller: RunningController = await startController({
      kubeconfig: controllerKc,
      settings,
      log: createLogger({ level: 'info', destination: controllerLog }),
      metricsPort: 0,
      metricsHost: '127.0.0.1',
      readModel: modelReader((pipeline) => {
        const location = s3Location(pipeline, settings)!;
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
      leaderElection: { namespace: ns, identity: `${ns}-test` },
    });
    stops.push(() => controller.stop());
    await eventually('the controller to lead', 15_000, () =>
      Promise.resolve(controller.isLeader() ? true : undefined),
    );

    const pipelinesPath = `/apis/mlpipeline.dev/v1alpha1/namespaces/${ns}/mlpipelines`;
    for (const pipeline of opts.pipelines) await create(pipelinesPath, pipeline);

    const uiAccountToken = await tokenOf('mlpipeline-ui');
    const kubeconfigFile = join(dir, 'ui.kubeconfig');
    await writeFile(kubeconfigFile, tokenKubeconfig(cp, 'mlpipeline-ui', uiAccountToken, ns));
    // Only what the UI's Deployment would set: nothing of this process's environment.
    const ui = await startUiProcess(dir, {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      KUBECONFIG: kubeconfigFile,
      POD_NAMESPACE: ns,
      HOST: '127.0.0.1',
      PORT: '0',
      MLPIPELINE_API_TOKEN: opts.apiToken,
      MLPIPELINE_DATA_DIR: join(dir, 'ui-data'),
      MYSQL_URL: dbUrl,
      RDS_URL: dbUrl,
      S3_BUCKET: bucket,
      S3_PREFIX: 'pipelines/',
      S3_ENDPOINT: t.endpoint,
      S3_REGION: t.region,
      AWS_ACCESS_KEY_ID: t.accessKeyId,
      AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
      ...(opts.webRoot !== undefined && { MLPIPELINE_WEB_ROOT: opts.webRoot }),
    });
    stops.push(async () => {
      if (ui.child.exitCode === null) {
        const exited = new Promise((resolve) => ui.child.once('exit', resolve));
        ui.child.kill('SIGTERM');
        await exited;
      }
      await new Promise<void>((resolve) => ui.log.end(resolve));
    });

    return {
      cp,
      api,
      namespace: ns,
      base: ui.base,
      uiAccountToken,
      bucket,
      db,
      uiLogFile: join(dir, 'ui.log'),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
