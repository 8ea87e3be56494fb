/**
 * Day-two operations on a real control plane, as a user sees them: suspending
 * and resuming a pipeline, the controller stopped in the middle of a run and
 * started again, two replicas under leader election through a whole run, a
 * run replaced under concurrencyPolicy Replace, slots missed while no
 * controller ran, the leader process killed outright, and a spec edit
 * followed by a quiet period. Stage pods are local processes
 * under the test kubelet, running the MySQL Iris example against MariaDB and
 * the S3 server that npm test starts.
 *
 * Run through npm test (npm test -- test/cluster/operations). Skipped when the
 * control-plane binaries are missing, unless MLP_CLUSTER_REQUIRED=1 makes
 * their absence a failure.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { KubeConfig } from '@kubernetes/client-node';

import { createLogger } from '../../core/log.js';
import type { StageName } from '../../core/ports.js';
import type { ControllerSettings } from '../../controller/desired.js';
import type { RequestRecord } from '../../controller/kube.js';
import { startController, type RunningController } from '../../controller/manager.js';
import { cronJobName, jobName, runNowRunId } from '../../controller/names.js';
import { scheduledRunId } from '../../core/schedule/index.js';
import { clusterSkip, eventually, sleep, type Api } from './api-client.js';
import type { ControlPlane } from './control-plane.js';
import { startStageCluster, type StageCluster } from './stage-cluster.js';
import { freePort } from '../infra/ports.js';
import { irisManifest } from './iris-example.js';

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

interface ControllerProcess {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
}

async function leaderGauge(port: number): Promise<number | undefined> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
  if (!r?.ok) return undefined;
  const line = (await r.text()).split('\n').find((l) => l.startsWith('mlpipeline_leader '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** A TCP server on 127.0.0.1 that accepts connections and never says a word. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const condition = (pipeline: Obj, type: string) =>
  (pipeline?.status?.conditions ?? []).find((c: Obj) => c.type === type);

describe(
  'operating pipelines on a real control plane',
  { skip: clusterSkip, timeout: 900_000 },
  () => {
    let cluster: StageCluster | undefined;
    let cp: ControlPlane;
    let api: Api<Obj>;
    let kc: KubeConfig;
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
    /** The stage whose pod runs now, as soon as one does. */
    const runningStage = (runId: string) =>
      eventually(
        'a stage pod running',
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
      cluster = await startStageCluster({
        dir: DIR,
        namespace: NS,
        database: DATABASE,
        bucketPrefix: 'operations',
      });
      ({ cp, settings } = cluster);
      api = cluster.api as Api<Obj>;
      kc = cluster.admin;
      logFile = createWriteStream(join(DIR, 'controller.log'));
      await create(`/api/v1/namespaces/${NS}/serviceaccounts`, {
        metadata: { name: 'mlpipeline-stage' },
        automountServiceAccountToken: false,
      });
    });

    after(async () => {
      for (const controller of [...running]) await stopReplica(controller);
      await new Promise<void>((resolve) => (logFile ? logFile.end(resolve) : resolve()));
      await cluster?.stop();
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
        await create(
          PIPELINES,
          irisManifest('paused', { spec: { schedule: '* * * * *', suspend: true } }),
        );
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
        await create(PIPELINES, irisManifest('paused-run-now', { spec: { suspend: true } }));
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
        await create(PIPELINES, irisManifest('restart'));
        await ready('restart');
        const { runId } = await runNow('restart');

        // A stage before predict, so that a link of the chain is left for the next instance.
        const stage = await runningStage(runId);
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
        await create(PIPELINES, irisManifest('replicas'));
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

    it('a stage pod that cannot start (a Secret name with a typo) shows why, in status and an Event', async () => {
      const controller = await startReplica('cannot-start');
      try {
        await leaderOf([controller]);
        const spec = irisManifest('typo');
        spec.spec.source.mysql.connectionSecretRef.name = 'rds-typo';
        await create(PIPELINES, spec);
        await ready('typo');
        const { runId } = await runNow('typo');
        const stuck = await eventually('Degraded StageCannotStart', 60_000, async () => {
          const p = await pipeline('typo');
          return condition(p, 'Degraded')?.reason === 'StageCannotStart' ? p : undefined;
        });
        assert.equal(condition(stuck, 'Degraded').status, 'True');
        const run = stuck.status.recentRuns.find((r: Obj) => r.id === runId);
        assert.equal(run.phase, 'Running');
        assert.equal(run.stages[0].waiting, 'CreateContainerConfigError');
        assert.match(run.stages[0].message, /cannot start: CreateContainerConfigError: .*rds-typo/);
        const events = await api(
          'GET',
          `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=typo')}`,
        );
        assert.ok(
          events.body.items.some(
            (e: Obj) => e.reason === 'StageCannotStart' && e.message.includes('rds-typo'),
          ),
          'a StageCannotStart event names the Secret',
        );
      } finally {
        await stopReplica(controller);
        if (await pipeline('typo')) await deletePipeline('typo');
      }
    });

    it('concurrencyPolicy Replace: a new run stops the running one, which shows as Replaced, and itself succeeds', async () => {
      // The first run's collect hangs on a server that accepts and never answers,
      // so it is certainly still running when the second run is asked for.
      const silent = await silentServer();
      const secretPath = `/api/v1/namespaces/${NS}/secrets/rds-slow`;
      await create(`/api/v1/namespaces/${NS}/secrets`, {
        metadata: { name: 'rds-slow' },
        stringData: { url: `mysql://u:p@127.0.0.1:${silent.port}/nowhere` },
      });
      const controller = await startReplica('replace');
      try {
        await leaderOf([controller]);
        const spec = irisManifest('replace', { spec: { concurrencyPolicy: 'Replace' } });
        spec.spec.source.mysql.connectionSecretRef.name = 'rds-slow';
        await create(PIPELINES, spec);
        await ready('replace');

        const first = await runNow('replace');
        await eventually('the first run collecting', 60_000, async () => {
          const pods = await list(PODS, `mlpipeline.dev/run-id=${first.runId}`);
          return pods.some((p) => p.status?.phase === 'Running') ? true : undefined;
        });
        // The second run reads the real database.
        await patch(secretPath, { stringData: { url: cluster!.podDatabaseUrl } });
        await sleep(1100); // run-now values are whole seconds apart
        const second = await runNow('replace');

        const run = await finishedRun('replace', second.runId);
        assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
        assert.deepEqual(await jobsOfRun(first.runId), [], "the replaced run's Jobs are deleted");
        assert.deepEqual(await jobsOfRun(second.runId), expectedJobs(second.runId));

        const p = await pipeline('replace');
        const replaced = p.status.recentRuns.find((r: Obj) => r.id === first.runId);
        assert.equal(replaced?.phase, 'Replaced', JSON.stringify(p.status.recentRuns));
        assert.equal(
          replaced.message,
          `replaced by run ${second.runId} (concurrencyPolicy Replace)`,
        );
        assert.equal(condition(p, 'Degraded').status, 'False', 'a replaced run is no failure');
        const events = await api(
          'GET',
          `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent('involvedObject.name=replace')}`,
        );
        assert.ok(
          events.body.items.some(
            (e: Obj) => e.reason === 'RunReplaced' && e.message.includes(first.runId),
          ),
          'a RunReplaced event names the stopped run',
        );
        await eventually('the replaced pod to be gone', 60_000, async () =>
          (await list(PODS, `mlpipeline.dev/run-id=${first.runId}`)).length === 0
            ? true
            : undefined,
        );
      } finally {
        await stopReplica(controller);
        if (await pipeline('replace')) await deletePipeline('replace');
        await api('DELETE', secretPath);
        await silent.close();
      }
    });

    it('slots missed while no controller ran: RunLatest runs the newest, RunAll the latest few, Skip none, each recorded', async () => {
      // Status is the controller's memory of the last slot it handled; writing
      // it directly stands for a controller that handled it and then was down.
      const minute = 60_000;
      // Away from a minute boundary, so that no slot becomes due or on time during the test.
      while (new Date().getUTCSeconds() < 15 || new Date().getUTCSeconds() > 40) await sleep(1000);
      const base = Math.floor(Date.now() / minute) * minute - 3 * minute;
      const slots = [1, 2, 3].map((i) => new Date(base + i * minute));
      const policies = {
        'missed-latest': { policy: 'RunLatest' },
        'missed-all': { policy: 'RunAll', limit: 2 },
        'missed-skip': { policy: 'Skip' },
      };
      for (const [name, missedRuns] of Object.entries(policies)) {
        const created = await create(
          PIPELINES,
          irisManifest(name, {
            spec: {
              schedule: '* * * * *',
              startingDeadlineSeconds: 10,
              concurrencyPolicy: 'Allow',
              missedRuns,
            },
          }),
        );
        const r = await api('PUT', `${PIPELINES}/${name}/status`, {
          ...created,
          status: { lastScheduleTimes: { pipeline: new Date(base).toISOString() } },
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }

      const controller = await startReplica('missed');
      try {
        await leaderOf([controller]);
        const ids = (name: string) => slots.map((slot) => scheduledRunId(name, 'pipeline', slot));
        const phases = async (name: string) => {
          const p = await pipeline(name);
          return new Map<string, Obj>((p?.status?.recentRuns ?? []).map((r: Obj) => [r.id, r]));
        };

        const [l1, l2, l3] = ids('missed-latest');
        const latest = await finishedRun('missed-latest', l3!);
        assert.equal(latest.phase, 'Succeeded', JSON.stringify(latest));
        assert.equal(latest.scheduledAt, slots[2]!.toISOString());
        const latestRuns = await phases('missed-latest');
        for (const id of [l1!, l2!]) {
          assert.equal(latestRuns.get(id)?.phase, 'Skipped', id);
          assert.match(latestRuns.get(id).message, /missedRuns.policy is RunLatest/);
        }
        const startedRuns = new Set(
          (await list(JOBS, 'mlpipeline.dev/pipeline=missed-latest')).map(
            (j) => j.metadata.labels['mlpipeline.dev/run-id'],
          ),
        );
        assert.deepEqual([...startedRuns], [l3], 'only the newest missed slot started');

        const [a1, a2, a3] = ids('missed-all');
        for (const id of [a2!, a3!]) {
          const run = await finishedRun('missed-all', id);
          assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
        }
        const allRuns = await phases('missed-all');
        assert.equal(allRuns.get(a1!)?.phase, 'Skipped');
        assert.match(allRuns.get(a1!).message, /only the latest 2 missed slots run/);

        const skipRuns = await phases('missed-skip');
        for (const id of ids('missed-skip')) {
          assert.equal(skipRuns.get(id)?.phase, 'Skipped', id);
          assert.match(skipRuns.get(id).message, /missedRuns.policy is Skip/);
        }
        assert.deepEqual(await list(JOBS, 'mlpipeline.dev/pipeline=missed-skip'), []);
      } finally {
        await stopReplica(controller);
        for (const name of Object.keys(policies)) {
          if (await pipeline(name)) await deletePipeline(name);
        }
      }
    });

    it('the leader process killed with SIGKILL mid-run: the standby process takes the Lease and finishes the chain, one Job per stage', async () => {
      const processes = [await startProcess('process-a'), await startProcess('process-b')];
      try {
        const leader = await eventually('a leader process', 60_000, async () => {
          for (const p of processes) if ((await leaderGauge(p.port)) === 1) return p;
          return undefined;
        });
        const standby = processes.find((p) => p !== leader)!;
        await create(PIPELINES, irisManifest('killed'));
        await ready('killed');
        const { runId } = await runNow('killed');
        const stage = await runningStage(runId);
        assert.notEqual(stage, 'predict', 'the run was caught too late to test a takeover');

        const killedAt = Date.now();
        leader.child.kill('SIGKILL');
        await eventually('the standby to take the Lease', 60_000, async () =>
          (await leaderGauge(standby.port)) === 1 ? true : undefined,
        );
        const takeoverMs = Date.now() - killedAt;
        // The Lease is not released by a killed process: the standby waits out its duration (15 s).
        assert.ok(takeoverMs < 30_000, `took ${takeoverMs} ms`);
        console.log(`# takeover after SIGKILL: ${takeoverMs} ms`);

        const run = await finishedRun('killed', runId);
        assert.equal(run.phase, 'Succeeded', JSON.stringify(run));
        assert.deepEqual(await jobsOfRun(runId), expectedJobs(runId));
        assert.equal(
          (await list(PODS, `mlpipeline.dev/run-id=${runId}`)).length,
          STAGES.length,
          'one pod per stage',
        );
      } finally {
        for (const p of processes) await stopProcess(p);
        if (await pipeline('killed')) await deletePipeline('killed');
      }
    });

    /** `mlpipeline controller --leader-elect` as its own process, configured as the Helm chart does. */
    async function startProcess(name: string): Promise<ControllerProcess> {
      const port = await freePort();
      const log = createWriteStream(join(DIR, `${name}.log`));
      await new Promise((resolve) => log.once('open', resolve));
      const child = spawn(
        process.execPath,
        [
          '--import',
          import.meta.resolve('tsx'),
          join(ROOT, 'cli/main.ts'),
          'controller',
          ...['--namespace', NS, '--leader-elect', '--metrics-address', '127.0.0.1'],
          ...['--metrics-port', String(port)],
        ],
        {
          stdio: ['ignore', log, log],
          env: {
            PATH: process.env.PATH,
            KUBECONFIG: cp.kubeconfig,
            POD_NAMESPACE: NS,
            ...cluster!.controllerEnv,
          },
        },
      );
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await eventually(`${name} to serve /healthz`, 60_000, async () => {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}`);
        const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        return r?.ok ? true : undefined;
      });
      return { child, port, exited };
    }

    async function stopProcess(p: ControllerProcess): Promise<void> {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
      await p.exited;
      clearTimeout(timer);
    }

    it('a spec edit updates the CronJob, and the quiet period after it writes nothing', async () => {
      // Resyncs every 2 s, so the quiet period below holds several passes of every pipeline.
      const controller = await startReplica('edit', 2000);
      try {
        await leaderOf([controller]);
        await create(PIPELINES, irisManifest('edit'));
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
