/**
 * A cluster where stage pods run the MySQL Iris example, for the suites that
 * run whole pipelines: a control plane with the local kubelet (or the cluster
 * of MLP_TEST_KUBECONFIG with its own kubelets), a namespace holding the
 * Secrets the example and the controller name, a database of the suite's own
 * seeded from examples/mysql/seed.sql, a bucket, and the CRD.
 *
 * On an external cluster the pods run a real image and reach the services
 * over the network, so three more variables say how:
 * - MLP_TEST_STAGE_IMAGE: the image stage pods run (required);
 * - MLP_TEST_POD_MYSQL_URL: the MariaDB of npm test as pods reach it
 *   (its database part is replaced by the suite's own);
 * - MLP_TEST_POD_S3_ENDPOINT: the S3 server as pods reach it.
 * Locally, pods are processes on this machine and use the addresses as they are.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { KubeConfig } from '@kubernetes/client-node';
import mysql from 'mysql2/promise';

import type { ControllerSettings } from '../../controller/desired.js';
import { testMysqlUrl, testS3 } from '../infra/env.js';
import { apiClient, createNamespace, ensureCrd, type Api } from './api-client.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { podLogFile, type LocalKubelet } from './kubelet.js';
import { startProjectKubelet } from './project-kubelet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface StageClusterOptions {
  /** Folder for the control plane, the kubelet's pods and logs. */
  dir: string;
  namespace: string;
  /**
   * Start of the suite's own database's name, created afresh and dropped at
   * stop; the process id is added, since the same suite may run twice at once
   * (on this machine's cluster and, through external.test.ts, on another).
   */
  database: string;
  /** Start of the bucket's name; a unique suffix is added. */
  bucketPrefix: string;
}

export interface StageCluster {
  cp: ControlPlane;
  /** As the cluster admin. */
  api: Api<unknown>;
  admin: KubeConfig;
  namespace: string;
  /** The suite's database, as this process reaches it. */
  db: mysql.Connection;
  /** The suite's database URL as stage pods reach it: the value of the rds and mlpipeline-db Secrets. */
  podDatabaseUrl: string;
  bucket: string;
  /** A client of the S3 server, as this process reaches it. */
  s3: S3Client;
  /** Endpoint, region and keys of the S3 server as this process reaches it. */
  s3Local: ReturnType<typeof testS3>;
  /** What a controller here puts into stage pods: image, Secrets, the S3 store as pods reach it. */
  settings: ControllerSettings;
  /** The same settings as `mlpipeline controller` reads them from its environment. */
  controllerEnv: Record<string, string>;
  /** A container's log: from the local kubelet's files, or the API server on an external cluster. */
  podLog(pod: string, container: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startStageCluster(opts: StageClusterOptions): Promise<StageCluster> {
  const database = `${opts.database}_${process.pid}`;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const undo of stops.splice(0).reverse()) await undo();
  };
  try {
    const cp = await startControlPlane({ dir: join(opts.dir, 'control-plane') });
    stops.push(() => cp.stop());
    const api = apiClient<unknown>(cp);
    const admin = new KubeConfig();
    admin.loadFromFile(cp.kubeconfig);
    const external = cp.external;
    const stageImage = external ? required('MLP_TEST_STAGE_IMAGE') : 'mlpipeline';

    const kubeletDir = join(opts.dir, 'kubelet');
    let kubelet: LocalKubelet | undefined;
    if (!external) {
      kubelet = await startProjectKubelet({
        kubeconfig: cp.kubeconfig,
        workDir: kubeletDir,
      });
      const started = kubelet;
      stops.push(() => started.stop());
    }

    // A database of the suite's own, so no other suite truncates its tables mid-run.
    const setup = await mysql.createConnection({ uri: testMysqlUrl() });
    await setup.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await setup.query(`CREATE DATABASE \`${database}\``);
    await setup.end();
    const db = await mysql.createConnection({
      uri: withDatabase(testMysqlUrl(), database),
      multipleStatements: true,
    });
    stops.push(async () => {
      await db.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await db.end();
    });
    await db.query(readFileSync(join(ROOT, 'examples/mysql/seed.sql'), 'utf8'));
    const podDatabaseUrl = withDatabase(
      process.env.MLP_TEST_POD_MYSQL_URL || testMysqlUrl(),
      database,
    );

    const s3Local = testS3();
    const s3 = new S3Client({
      endpoint: s3Local.endpoint,
      region: s3Local.region,
      forcePathStyle: true,
      credentials: { accessKeyId: s3Local.accessKeyId, secretAccessKey: s3Local.secretAccessKey },
    });
    stops.push(() => Promise.resolve(s3.destroy()));
    const bucket = `${opts.bucketPrefix}-${Date.now().toString(36)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const podS3Endpoint = process.env.MLP_TEST_POD_S3_ENDPOINT || s3Local.endpoint;

    const ns = opts.namespace;
    await createNamespace(cp, api, ns);
    const secrets = {
      rds: { url: podDatabaseUrl },
      'mlpipeline-db': { url: podDatabaseUrl },
      'mlpipeline-s3': {
        AWS_ACCESS_KEY_ID: s3Local.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3Local.secretAccessKey,
      },
    };
    for (const [name, stringData] of Object.entries(secrets)) {
      const r = await api('POST', `/api/v1/namespaces/${ns}/secrets`, {
        metadata: { name },
        stringData,
      });
      if (r.status !== 201) throw new Error(`Secret ${name}: ${JSON.stringify(r.body)}`);
    }
    await ensureCrd(api);

    const settings: ControllerSettings = {
      image: stageImage,
      imagePullPolicy: external ? 'IfNotPresent' : 'Never',
      stageServiceAccount: 'mlpipeline-stage',
      databaseSecret: 'mlpipeline-db',
      s3: {
        bucket,
        prefix: 'pipelines/',
        endpoint: podS3Endpoint,
        region: s3Local.region,
        credentialsSecret: 'mlpipeline-s3',
      },
    };
    const controllerEnv = {
      MLP_STAGE_IMAGE: settings.image,
      MLP_STAGE_IMAGE_PULL_POLICY: settings.imagePullPolicy,
      MLP_DATABASE_SECRET: 'mlpipeline-db',
      S3_BUCKET: bucket,
      S3_PREFIX: 'pipelines/',
      // The controller runs here: it reads the model store as this process does.
      S3_ENDPOINT: s3Local.endpoint,
      S3_REGION: s3Local.region,
      MLP_S3_CREDENTIALS_SECRET: 'mlpipeline-s3',
      AWS_ACCESS_KEY_ID: s3Local.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3Local.secretAccessKey,
    };

    const podLog = async (pod: string, container: string): Promise<string> => {
      if (!external) return readFileSync(podLogFile(kubeletDir, ns, pod, container), 'utf8');
      const r = await api('GET', `/api/v1/namespaces/${ns}/pods/${pod}/log?container=${container}`);
      if (r.status !== 200) throw new Error(`log of ${pod}: ${JSON.stringify(r.body)}`);
      return (r.body as { message: string }).message;
    };

    return {
      cp,
      api,
      admin,
      namespace: ns,
      db,
      podDatabaseUrl,
      bucket,
      s3,
      s3Local,
      settings,
      controllerEnv,
      podLog,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A database URL like base but naming another database. */
export function withDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set when MLP_TEST_KUBECONFIG names a cluster`);
  return value;
}
