import type { S3Client } from '@aws-sdk/client-s3';
import { KubeConfig } from '@kubernetes/client-node';

import { UserError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { S3ArtifactStore, s3Client } from '../jobs/adapters/s3-artifact-store.js';
import type { ArtifactStore } from '../core/ports.js';
import type { ControllerSettings, PipelineObject } from '../controller/desired.js';
import { startController } from '../controller/manager.js';
import { modelReader, s3Location } from '../controller/model-reader.js';

/**
 * `mlpipeline controller`: the operator. Its own settings, and what it puts
 * into every stage pod, come from the environment, as the Helm chart sets it:
 *
 * - MLP_STAGE_IMAGE (required): the image stage pods run;
 *   MLP_STAGE_IMAGE_PULL_POLICY: Always | IfNotPresent (default) | Never;
 * - MLP_STAGE_SERVICE_ACCOUNT: the stage pods' ServiceAccount (default mlpipeline-stage);
 * - MLP_DATABASE_SECRET: the Secret with the deployment's results database;
 * - S3_BUCKET, S3_PREFIX, S3_ENDPOINT, S3_REGION: the deployment's model store;
 *   MLP_S3_CREDENTIALS_SECRET: the Secret with AWS_ACCESS_KEY_ID and
 *   AWS_SECRET_ACCESS_KEY that stage pods get (the controller itself reads
 *   the model pointer with the usual AWS variables or its own role);
 * - POD_NAMESPACE: where the leader Lease lives (default: --namespace, else default);
 * - KUBECONFIG: outside a cluster; inside, the pod's ServiceAccount is used.
 */
export interface ControllerCommandOptions {
  namespace?: string;
  metricsPort: number;
  metricsAddress: string;
  leaderElect: boolean;
  workers: number;
  resyncMs: number;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): ControllerSettings {
  const image = env.MLP_STAGE_IMAGE?.trim();
  if (!image) throw new UserError('MLP_STAGE_IMAGE: the image stage pods run must be set');
  const pullPolicy = env.MLP_STAGE_IMAGE_PULL_POLICY?.trim() || 'IfNotPresent';
  if (!(PULL_POLICIES as readonly string[]).includes(pullPolicy)) {
    throw new UserError(`MLP_STAGE_IMAGE_PULL_POLICY: must be one of ${PULL_POLICIES.join(', ')}`);
  }
  const settings: ControllerSettings = {
    image,
    imagePullPolicy: pullPolicy as ControllerSettings['imagePullPolicy'],
    stageServiceAccount: env.MLP_STAGE_SERVICE_ACCOUNT?.trim() || 'mlpipeline-stage',
  };
  const database = env.MLP_DATABASE_SECRET?.trim();
  if (database) settings.databaseSecret = database;
  const bucket = env.S3_BUCKET?.trim();
  if (bucket) {
    const prefix = env.S3_PREFIX ?? '';
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new UserError(`S3_PREFIX: must end with "/" (got "${prefix}")`);
    }
    settings.s3 = { bucket, prefix };
    if (env.S3_ENDPOINT) settings.s3.endpoint = env.S3_ENDPOINT;
    const region = env.S3_REGION || env.AWS_REGION;
    if (region) settings.s3.region = region;
    if (env.MLP_S3_CREDENTIALS_SECRET)
      settings.s3.credentialsSecret = env.MLP_S3_CREDENTIALS_SECRET;
  }
  return settings;
}

export async function controllerCommand(options: ControllerCommandOptions): Promise<void> {
  const log = createLogger();
  const settings = settingsFromEnv();
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromDefault();

  // One client per endpoint and region, shared by every pipeline's store: a
  // store is only a bucket and a prefix, made afresh for each read.
  const clients = new Map<string, S3Client>();
  const storeFor = (pipeline: PipelineObject): ArtifactStore => {
    const location = s3Location(pipeline, settings);
    if (location === undefined) throw new UserError('no S3 model store for this pipeline');
    const key = `${location.endpoint ?? ''} ${location.region ?? ''}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = s3Client(location);
      clients.set(key, client);
    }
    return new S3ArtifactStore({ ...location, client });
  };

  const controller = await startController({
    kubeconfig,
    settings,
    log,
    metricsPort: options.metricsPort,
    metricsHost: options.metricsAddress,
    workers: options.workers,
    resyncMs: options.resyncMs,
    readModel: modelReader(storeFor),
    ...(options.namespace !== undefined && { namespace: options.namespace }),
    ...(options.leaderElect && {
      leaderElection: {
        namespace: process.env.POD_NAMESPACE || options.namespace || 'default',
      },
    }),
  });

  // SIGTERM (a rolling update, a drain): finish passes under way, release the Lease, exit.
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  await controller.stop();
  for (const client of clients.values()) client.destroy();
}
