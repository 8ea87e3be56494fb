import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';

import { configFromEnv } from '../core/config.js';
import { messageOf, UserError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { S3ArtifactStore } from '../jobs/adapters/s3-artifact-store.js';
import { createRuntime } from '../jobs/runtime.js';
import { PipelineChangeFeed } from '../ui/kube/changes.js';
import { pipelineCluster } from '../ui/kube/cluster.js';
import { KubernetesPipelineService } from '../ui/kube/service.js';
import { createApiApp } from '../ui/server/app.js';

/**
 * `mlpipeline ui`: the HTTP API (and the web app) over the MLPipelines of
 * one namespace. Its settings come from the environment, as the Helm chart
 * sets them:
 *
 * - HOST, PORT: where to listen (default 127.0.0.1:8080; images set HOST=0.0.0.0);
 * - MLPIPELINE_API_TOKEN: the bearer token actions need; without it the API is read-only;
 * - POD_NAMESPACE: the namespace shown (default: --namespace, else the kubeconfig's);
 * - S3_BUCKET, S3_PREFIX, S3_ENDPOINT, S3_REGION and the usual AWS credential
 *   variables: the deployment's model store, as the controller reads it;
 * - MYSQL_URL (or MYSQL_HOST, ...): the deployment's database, where
 *   predictions go when a pipeline's sink names no Secret; a sink's Secret
 *   `rds` is read from RDS_URL (or RDS_HOST, ...), as stage pods read it;
 * - KUBECONFIG: outside a cluster; inside, the pod's ServiceAccount is used.
 */
export async function uiCommand(options: { namespace?: string }): Promise<void> {
  const log = createLogger();
  const config = configFromEnv();
  const kubeconfig = new KubeConfig();
  try {
    kubeconfig.loadFromDefault();
  } catch (error) {
    throw new UserError(`KUBECONFIG: cannot load ${process.env.KUBECONFIG}: ${messageOf(error)}`);
  }
  const namespace =
    process.env.POD_NAMESPACE ||
    options.namespace ||
    kubeconfig.getContextObject(kubeconfig.getCurrentContext())?.namespace ||
    'default';

  // Without MYSQL_* the runtime still opens an embedded database, which nothing here reads
  // (stage pods keep theirs to themselves): it goes to scratch space, as the
  // image's own folders are read-only.
  const runtime = await createRuntime(
    process.env.MLPIPELINE_DATA_DIR
      ? config
      : { ...config, dataDir: join(tmpdir(), 'mlpipeline-ui') },
    log,
  );
  const feed = new PipelineChangeFeed({ kc: kubeconfig, namespace, log });
  const service = new KubernetesPipelineService({
    cluster: pipelineCluster(kubeconfig, namespace),
    config,
    results: runtime.results,
    // The sink is chosen by the spec alone; the file fields only matter to local CSV sources.
    predictionSinkFor: (pipeline) =>
      runtime.predictionSinkFor({ ...pipeline, namespace, baseDir: process.cwd(), file: '' }),
    openStore: (location) => new S3ArtifactStore(location),
    subscribe: (listener) => feed.subscribe(listener),
    log,
  });

  const app = createApiApp({
    service,
    log,
    token: process.env.MLPIPELINE_API_TOKEN || undefined,
    ready: () => service.ready(),
  });
  const server = app.listen(config.port, config.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  log.info(
    {
      address: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}/`,
      namespace,
      cluster: kubeconfig.getCurrentCluster()?.server,
      actions: process.env.MLPIPELINE_API_TOKEN ? 'with token' : 'read-only',
    },
    'ui started',
  );

  // SIGTERM (a rolling update): stop taking requests, end the live streams, close the stores.
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, 'stopping');
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeAllConnections();
  await closed;
  await feed.stop();
  service.close();
  await runtime.close();
}
