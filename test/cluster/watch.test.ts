/**
 * The controller's watches when the connection to the API server breaks, on a
 * real control plane: the controller reaches the API server through a TCP
 * relay on 127.0.0.1 that the test can cut (every connection dropped, new
 * ones refused) and freeze (connections stay open, nothing passes). A cut
 * shows in /readyz at once and in /healthz after unhealthyAfterMs; after it
 * the watches come back by themselves and the controller acts again. A
 * frozen watch is restarted when it has been quiet too long.
 */
import assert from 'node:assert/strict';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KubeConfig } from '@kubernetes/client-node';

import { createLogger } from '../../core/log.js';
import { startController, type RunningController } from '../../controller/manager.js';
import { cronJobName } from '../../controller/names.js';
import {
  apiClient,
  clusterSkip,
  createNamespace,
  ensureCrd,
  eventually,
  type Api,
} from './api-client.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import { builtinIrisManifest } from './iris-example.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'watch');
const NS = 'mlp-watch';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const CRONJOBS = `/apis/batch/v1/namespaces/${NS}/cronjobs`;
const QUIET_MS = 3000;
const UNHEALTHY_AFTER_MS = 2000;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   API replies are read loosely here, as JSON. */
type Obj = any;

/** A TCP relay to the API server that can drop everything or stop passing bytes. */
interface Relay {
  port: number;
  /** Drops every connection and refuses new ones until restore(). */
  cut(): void;
  /** Leaves connections open but passes nothing on them; new connections work. */
  freeze(): void;
  restore(): void;
  close(): Promise<void>;
}

async function startRelay(target: URL): Promise<Relay> {
  const pairs = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    const pass = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (!pair.frozen) to.write(chunk);
      });
    pass(client, upstream);
    pass(upstream, client);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      refusing = true;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
    },
    freeze() {
      for (const pair of pairs) pair.frozen = true;
    },
    restore() {
      refusing = false;
    },
    close: () =>
      new Promise((resolve) => {
        for (const { client, upstream } of pairs) {
          client.destroy();
          upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}

describe(
  'watches when the API server connection breaks',
  { skip: clusterSkip, timeout: 300_000 },
  () => {
    let cp: ControlPlane;
    let api: Api<Obj>;
    let relay: Relay;
    let controller: RunningController | undefined;
    let logFile: WriteStream | undefined;

    const probe = async (path: '/healthz' | '/readyz') => {
      const r = await fetch(`http://127.0.0.1:${controller!.port}${path}`);
      return { status: r.status, body: (await r.json()) as Obj };
    };
    const cronJobsOf = async (name: string) =>
      (await api('GET', `${CRONJOBS}/${cronJobName(name, 'collect')}`)).status === 200
        ? true
        : undefined;

    before(async () => {
      await mkdir(DIR, { recursive: true });
      cp = await startControlPlane({ dir: join(DIR, 'control-plane') });
      api = apiClient<Obj>(cp);
      await ensureCrd(api);
      await createNamespace(cp, api, NS);

      const server = new URL(cp.server);
      relay = await startRelay(server);
      const admin = new KubeConfig();
      admin.loadFromFile(cp.kubeconfig);
      const viaRelay = new KubeConfig();
      viaRelay.loadFromOptions({
        clusters: [{ ...admin.getCurrentCluster()!, server: `https://127.0.0.1:${relay.port}` }],
        users: [admin.getCurrentUser()!],
        contexts: [
          {
            name: 'relay',
            cluster: admin.getCurrentCluster()!.name,
            user: admin.getCurrentUser()!.name,
          },
        ],
        currentContext: 'relay',
      });
      logFile = createWriteStream(join(DIR, 'controller.log'));
      controller = await startController({
        kubeconfig: viaRelay,
        namespace: NS,
        settings: {
          image: 'mlpipeline',
          imagePullPolicy: 'Never',
          stageServiceAccount: 'mlpipeline-stage',
          s3: { bucket: 'models', prefix: 'pipelines/', endpoint: 'http://127.0.0.1:9' },
        },
        log: createLogger({ level: 'info', destination: logFile }),
        metricsPort: 0,
        metricsHost: '127.0.0.1',
        watch: { quietMs: QUIET_MS, backoffMs: 200, maxBackoffMs: 1000 },
        unhealthyAfterMs: UNHEALTHY_AFTER_MS,
        // Requests on a frozen kept-alive connection give up soon and go again on a new one.
        requestTimeoutMs: 5000,
      });
    });

    after(async () => {
      await controller?.stop();
      await relay?.close();
      await new Promise<void>((resolve) => (logFile ? logFile.end(resolve) : resolve()));
      await cp?.stop();
    });

    it('a cut connection makes /readyz fail at once and /healthz after a while, naming the watches', async () => {
      await eventually('ready', 30_000, async () =>
        (await probe('/readyz')).status === 200 ? true : undefined,
      );
      relay.cut();
      const notReady = await eventually('/readyz to fail', 30_000, async () => {
        const r = await probe('/readyz');
        return r.status === 503 ? r.body : undefined;
      });
      const failing = notReady.details.watches.filter((w: Obj) => !w.synced);
      assert.ok(failing.length > 0, JSON.stringify(notReady));
      assert.ok(failing.every((w: Obj) => typeof w.lastError === 'string' && w.failingSince));

      const dead = await eventually('/healthz to fail', 30_000, async () => {
        const r = await probe('/healthz');
        return r.status === 503 ? r.body : undefined;
      });
      assert.ok(dead.details.watches.some((w: Obj) => !w.synced));
    });

    it('once the connection is back, every watch lists again by itself and the controller acts on new pipelines', async () => {
      const restartsBefore = controller!.watches().reduce((n, w) => n + w.restarts, 0);
      relay.restore();
      await eventually('ready again', 30_000, async () =>
        (await probe('/readyz')).status === 200 && (await probe('/healthz')).status === 200
          ? true
          : undefined,
      );
      const restarts = controller!.watches().reduce((n, w) => n + w.restarts, 0);
      assert.ok(restarts > restartsBefore, 'the watches were restarted');
      assert.ok(controller!.watches().every((w) => w.failingSince === undefined));

      const r = await api('POST', PIPELINES, builtinIrisManifest('after-cut'));
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await eventually('the CronJobs of a pipeline made after the cut', 30_000, () =>
        cronJobsOf('after-cut'),
      );
    });

    it('a watch that goes quiet on an open connection is restarted, and sees what it had missed', async () => {
      const restartsBefore = controller!.watches().reduce((n, w) => n + w.restarts, 0);
      relay.freeze();
      // Made while the watches hear nothing: only a restart's new list brings it.
      const r = await api('POST', PIPELINES, builtinIrisManifest('while-frozen'));
      assert.equal(r.status, 201, JSON.stringify(r.body));
      await eventually('the CronJobs of the pipeline made while frozen', 30_000, () =>
        cronJobsOf('while-frozen'),
      );
      const restarts = controller!.watches().reduce((n, w) => n + w.restarts, 0);
      assert.ok(restarts > restartsBefore, 'a quiet watch was restarted');
    });
  },
);
