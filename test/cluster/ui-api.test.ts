/**
 * `mlpipeline ui` on a real control plane: the command runs as its own
 * process with the UI Role's ServiceAccount token (deploy/rbac/ui-role.yaml),
 * beside the controller (under its own Role), the local kubelet running the
 * stage pods, MariaDB and the S3 server (test/cluster/ui-cluster.ts). The test
 * drives only the HTTP API, as the web app does: list, detail, run now with
 * the token, the run finishing as seen through server-sent events and the
 * runs view, models, predictions paging, predict, stage logs (pods/log through
 * the API server), suspend and resume, tokens, and the connections view with
 * one failing store.
 *
 * Needs the services npm test starts (npm test -- test/cluster/ui-api).
 * Skipped when the control-plane binaries are missing, unless
 * MLP_CLUSTER_REQUIRED=1 makes their absence a failure.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import type mysql from 'mysql2/promise';

import { jobName } from '../../controller/names.js';
import { apiClient, eventually, localClusterSkip, type Api } from './api-client.js';
import type { ControlPlane } from './control-plane.js';
import { irisManifest } from './iris-example.js';
import { startUiCluster, type UiCluster } from './ui-cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'ui-api');
const NS = 'mlp-ui';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;
const STAGES = ['collect', 'clean', 'train', 'predict'] as const;
const DATABASE = 'mlp_ui_cluster';
const TOKEN = 'ui-test-token-0123456789';
const RUN_TIMEOUT_MS = 3 * 60_000;
/** The model store of one pipeline: a bucket that does not exist. */
const MISSING_BUCKET = `mlp-ui-missing-${Date.now().toString(36)}`;

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   Replies are read loosely here, as JSON: each check names the fields it reads. */
type Obj = any;

interface HttpReply {
  status: number;
  body: Obj;
  text: string;
}

/** The server-sent events of /api/events, collected as they arrive. */
interface EventFeed {
  changes: Obj[];
  close(): void;
}

// Stage logs come from the local kubelet's files through kubelet-logs.ts, so this suite needs
// the local kubelet: on a cluster of MLP_TEST_KUBECONFIG it is skipped.
describe(
  'mlpipeline ui on a real control plane',
  { skip: localClusterSkip, timeout: 600_000 },
  () => {
    let cluster: UiCluster | undefined;
    let cp: ControlPlane;
    let api: Api<Obj>;
    let base = '';
    let uiToken = '';
    let db: mysql.Connection;
    let bucket = '';
    const missingBucket = MISSING_BUCKET;
    let runId = '';

    const http = async (
      method: string,
      path: string,
      options: { body?: unknown; token?: string } = {},
    ): Promise<HttpReply> => {
      const headers: Record<string, string> = {};
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
      const text = await res.text();
      let body: Obj;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text };
    };
    const getJson = async (path: string) => {
      const r = await http('GET', path);
      assert.equal(r.status, 200, `GET ${path}: ${r.text}`);
      return r.body;
    };
    const create = async (path: string, body: unknown) => {
      const r = await api('POST', path, body);
      assert.equal(r.status, 201, `POST ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    };

    async function openEvents(): Promise<EventFeed> {
      const abort = new AbortController();
      const res = await fetch(`${base}/api/events`, { signal: abort.signal });
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const feed: EventFeed = { changes: [], close: () => abort.abort() };
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      void (async () => {
        let buffer = '';
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return;
            buffer += value;
            for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
              const data = /^data: (.*)$/m.exec(buffer.slice(0, end))?.[1];
              buffer = buffer.slice(end + 2);
              if (data) feed.changes.push({ ...JSON.parse(data), receivedAt: Date.now() });
            }
          }
        } catch {
          // Aborted by close().
        }
      })();
      return feed;
    }

    before(async () => {
      cluster = await startUiCluster({
        dir: DIR,
        namespace: NS,
        database: DATABASE,
        apiToken: TOKEN,
        pipelines: [
          irisManifest('iris'),
          irisManifest('iris-elsewhere', { modelBucket: MISSING_BUCKET }),
        ],
      });
      ({ cp, api, base, db, bucket } = cluster);
      uiToken = cluster.uiAccountToken;
    });

    after(async () => {
      await cluster?.stop();
    });

    it('answers health and readiness, and lists the namespace pipelines from their status', async () => {
      assert.deepEqual(await getJson('/healthz'), { status: 'ok' });
      assert.deepEqual(await getJson('/readyz'), { status: 'ready' });
      assert.deepEqual(await getJson('/api/session'), { mode: 'kubernetes', actions: true });

      const listed = await getJson('/api/pipelines');
      assert.equal(listed.mode, 'kubernetes');
      assert.deepEqual(
        listed.pipelines.map((p: Obj) => p.name),
        ['iris', 'iris-elsewhere'],
      );
      const iris = listed.pipelines[0];
      assert.equal(iris.schedule, '0 0 1 1 *');
      assert.equal(iris.timeZone, 'Etc/UTC');
      assert.equal(iris.suspended, false);

      const detail = await eventually('the next run time in status', 30_000, async () => {
        const d = await getJson('/api/pipelines/iris');
        return d.nextRunAt ? d : undefined;
      });
      assert.match(detail.nextRunAt, /^\d{4}-01-01T00:00:00\.000Z$/);
      assert.equal(detail.modelStore, `s3://${bucket}/pipelines/iris/`);
      assert.deepEqual(detail.activeRuns, []);
      assert.equal(detail.spec.source.mysql.table, 'iris_measurements');

      // Figures for the report: each view's request reads the API server afresh.
      for (const path of ['/api/pipelines', '/api/pipelines/iris', '/api/pipelines/iris/runs']) {
        const times: number[] = [];
        for (let i = 0; i < 20; i++) {
          const t0 = performance.now();
          await getJson(path);
          times.push(performance.now() - t0);
        }
        times.sort((a, b) => a - b);
        console.log(
          `GET ${path}: p50 ${times[9]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms over 20`,
        );
      }

      const missing = await http('GET', '/api/pipelines/nope');
      assert.equal(missing.status, 404);
      assert.match(missing.body.error, /no pipeline named "nope" in namespace mlp-ui/);
    });

    it('refuses actions without the token (401) and with a wrong one (403)', async () => {
      for (const path of ['runs', 'suspend', 'resume']) {
        const none = await http('POST', `/api/pipelines/iris/${path}`);
        assert.equal(none.status, 401, `${path}: ${none.text}`);
        assert.match(none.body.error, /Authorization: Bearer/);
        const wrong = await http('POST', `/api/pipelines/iris/${path}`, { token: 'not-it' });
        assert.equal(wrong.status, 403, `${path}: ${wrong.text}`);
        assert.match(wrong.body.error, /not valid/);
      }
      const p = (await api('GET', `${PIPELINES}/iris`)).body;
      assert.equal(p.metadata.annotations?.['mlpipeline.dev/run-now'], undefined);
      assert.equal(p.spec.suspend, false);
    });

    it('runs now with the token: the run shows at once, goes through four stage pods and is seen finishing live', async () => {
      const events = await openEvents();
      try {
        const pressedAt = Date.now();
        const started = await http('POST', '/api/pipelines/iris/runs', { token: TOKEN });
        assert.equal(started.status, 201, started.text);
        runId = started.body.runId;
        assert.match(runId, /^iris-manual-\d{14}-[a-z0-9]+$/);
        assert.equal(started.body.phase, 'Pending');

        const annotated = (await api('GET', `${PIPELINES}/iris`)).body;
        assert.ok(annotated.metadata.annotations['mlpipeline.dev/run-now']);
        const runs = await getJson('/api/pipelines/iris/runs');
        assert.equal(runs.runs[0].runId, runId);

        const again = await http('POST', '/api/pipelines/iris/runs', { token: TOKEN });
        assert.equal(again.status, 409, again.text);

        const finished = await eventually(`run ${runId} to finish`, RUN_TIMEOUT_MS, async () => {
          const run = await getJson(`/api/pipelines/iris/runs/${runId}`);
          return run.phase === 'Succeeded' || run.phase === 'Failed' ? run : undefined;
        });
        assert.equal(finished.phase, 'Succeeded', JSON.stringify(finished));
        console.log(`run now to Succeeded in the runs view: ${Date.now() - pressedAt} ms`);
        assert.equal(finished.trigger, 'manual');
        assert.deepEqual(
          finished.stages.map((s: Obj) => [s.stage, s.phase, s.summary?.jobName]),
          STAGES.map((stage) => [stage, 'Succeeded', jobName(runId, stage)]),
        );
        for (const stage of finished.stages) {
          assert.ok(stage.attempts >= 1, `${stage.stage} attempts ${stage.attempts}`);
          assert.ok(Date.parse(stage.finishedAt) >= Date.parse(stage.startedAt));
        }

        // The browser's stream told of this run's progress, Pending to Succeeded.
        await eventually('a change event for the run', 10_000, () =>
          Promise.resolve(
            events.changes.some(
              (c) => c.pipeline === 'iris' && c.kind === 'run' && c.runId === runId,
            )
              ? true
              : undefined,
          ),
        );
        await eventually('a model change event', 30_000, () =>
          Promise.resolve(
            events.changes.some((c) => c.pipeline === 'iris' && c.kind === 'model')
              ? true
              : undefined,
          ),
        );
      } finally {
        events.close();
      }

      const listed = await eventually('the promoted model in the list', 30_000, async () => {
        const l = await getJson('/api/pipelines');
        const iris = l.pipelines.find((p: Obj) => p.name === 'iris');
        return iris.currentModel ? iris : undefined;
      });
      assert.equal(listed.lastRun.runId, runId);
      assert.equal(listed.lastRun.phase, 'Succeeded');
      assert.ok(listed.currentModel.accuracy >= 0.9, JSON.stringify(listed.currentModel));
    });

    it('shows the model versions from the model store', async () => {
      const { models } = await getJson('/api/pipelines/iris/models');
      assert.equal(models.length, 1);
      const [model] = models;
      assert.equal(model.runId, runId);
      assert.equal(model.current, true);
      assert.equal(model.promoted, true);
      // The 150 Iris rows less the one exact duplicate that cleaning drops.
      assert.equal(model.rows.total, 149);
      assert.equal(model.rows.train + model.rows.test, model.rows.total);
      assert.ok(model.accuracy >= 0.9);

      // Each stage's figures, read back from the artifacts its pod left in the model store.
      const run = await getJson(`/api/pipelines/iris/runs/${runId}`);
      const figures = Object.fromEntries(run.stages.map((s: Obj) => [s.stage, s.summary]));
      assert.equal(figures.collect.rowsRead, 150);
      assert.equal(figures.clean.rowsIn, 150);
      assert.equal(figures.clean.rowsOut, 149);
      assert.equal(figures.train.modelVersion, model.version);
      assert.equal(figures.train.promoted, true);
      assert.equal(figures.train.rowsTrain + figures.train.rowsTest, 149);
      assert.equal(figures.predict.rowsWritten, 150);
      assert.equal(figures.predict.modelVersion, model.version);

      const doc = await getJson(`/api/pipelines/iris/models/${model.version}`);
      assert.deepEqual(doc.features, [
        'sepal_length',
        'sepal_width',
        'petal_length',
        'petal_width',
      ]);
      assert.deepEqual([...doc.classes].sort(), ['setosa', 'versicolor', 'virginica']);
      assert.equal(
        (await http('GET', '/api/pipelines/iris/models/v19990101-000000-0000')).status,
        404,
      );
    });

    it('pages and filters the predictions in MariaDB', async () => {
      const first = await getJson('/api/pipelines/iris/predictions?limit=50');
      assert.equal(first.total, 150);
      assert.equal(first.rows.length, 50);
      const third = await getJson('/api/pipelines/iris/predictions?limit=50&offset=100');
      assert.equal(third.rows.length, 50);
      const keys = (page: Obj) => page.rows.map((r: Obj) => r.rowKey);
      assert.equal(new Set([...keys(first), ...keys(third)]).size, 100, 'pages do not overlap');
      assert.ok(first.rows.every((r: Obj) => r.runId === runId && r.pipeline === 'iris'));

      const setosa = await getJson(
        `/api/pipelines/iris/predictions?runId=${runId}&label=setosa&limit=1000`,
      );
      assert.ok(setosa.total > 0 && setosa.total < 150, `setosa rows: ${setosa.total}`);
      assert.ok(setosa.rows.every((r: Obj) => r.label === 'setosa'));
      const [countRow] = await db!.query<mysql.RowDataPacket[]>(
        "SELECT COUNT(*) AS n FROM predictions WHERE pipeline = 'iris' AND run_id = ? AND label = 'setosa'",
        [runId],
      );
      assert.equal(setosa.total, Number(countRow[0]!.n));

      const bad = await http('GET', '/api/pipelines/iris/predictions?limit=0');
      assert.equal(bad.status, 400);
      assert.match(bad.body.error, /^limit:/);
    });

    it('predicts one row with the current model, and names what is wrong with bad input', async () => {
      const features = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };
      const r = await http('POST', '/api/pipelines/iris/predict', { body: { features } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.label, 'setosa');
      const total = Object.values(r.body.probabilities as Record<string, number>).reduce(
        (a, b) => a + b,
        0,
      );
      assert.ok(Math.abs(total - 1) < 1e-9);

      const missing = await http('POST', '/api/pipelines/iris/predict', {
        body: { features: { sepal_length: 5.1 } },
      });
      assert.equal(missing.status, 400);
      assert.match(missing.body.error, /features: missing sepal_width, petal_length, petal_width/);
      const text = await http('POST', '/api/pipelines/iris/predict', {
        body: { features: { ...features, petal_width: 'wide' } },
      });
      assert.equal(text.status, 400);
      assert.match(text.body.error, /features\.petal_width: must be a number/);
    });

    it('serves each stage log from its pod through the API server', async () => {
      for (const stage of STAGES) {
        const r = await http('GET', `/api/pipelines/iris/runs/${runId}/stages/${stage}/logs`);
        assert.equal(r.status, 200, `${stage}: ${r.text}`);
        assert.match(r.text, /stage succeeded/, stage);
        assert.match(r.text, new RegExp(`"stage":"${stage}"`), stage);
      }
      const none = await http(
        'GET',
        `/api/pipelines/iris/runs/iris-209901010000/stages/train/logs`,
      );
      assert.equal(none.status, 404);
      assert.match(none.body.error, /has no pod/);
    });

    it('suspends and resumes through spec.suspend, which the controller reflects in status', async () => {
      const events = await openEvents();
      const pressedAt = Date.now();
      const suspended = await http('POST', '/api/pipelines/iris/suspend', { token: TOKEN });
      assert.equal(suspended.status, 200, suspended.text);
      assert.equal(suspended.body.suspended, true);
      assert.equal((await api('GET', `${PIPELINES}/iris`)).body.spec.suspend, true);
      await eventually('the Suspended condition', 30_000, async () => {
        const p = (await api('GET', `${PIPELINES}/iris`)).body;
        const c = p.status?.conditions?.find((x: Obj) => x.type === 'Suspended');
        return c?.status === 'True' ? true : undefined;
      });
      const change = await eventually('a pipeline change event', 10_000, () =>
        Promise.resolve(events.changes.find((c) => c.pipeline === 'iris' && c.kind === 'pipeline')),
      );
      console.log(`suspend to its change event in the stream: ${change.receivedAt - pressedAt} ms`);
      events.close();
      const listed = await getJson('/api/pipelines');
      const iris = listed.pipelines.find((p: Obj) => p.name === 'iris');
      assert.equal(iris.suspended, true);
      assert.equal(iris.nextRunAt, undefined);

      const refused = await http('POST', '/api/pipelines/iris/runs', { token: TOKEN });
      assert.equal(refused.status, 409);
      assert.match(refused.body.error, /suspended/);

      const resumed = await http('POST', '/api/pipelines/iris/resume', { token: TOKEN });
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.body.suspended, false);
      await eventually('the Suspended condition to clear', 30_000, async () => {
        const p = (await api('GET', `${PIPELINES}/iris`)).body;
        const c = p.status?.conditions?.find((x: Obj) => x.type === 'Suspended');
        return c?.status === 'False' && p.status?.nextScheduleTime ? true : undefined;
      });
      const detail = await getJson('/api/pipelines/iris');
      assert.equal(detail.suspended, false);
      assert.ok(detail.nextRunAt);
    });

    it('reports each connection with its latency, and the exact error of the one that fails', async () => {
      const { connections } = await getJson('/api/connections');
      const byName = new Map<string, Obj>(connections.map((c: Obj) => [c.name, c]));
      assert.deepEqual([...byName.keys()].sort(), [
        'Kubernetes API',
        'model store of iris',
        'model store of iris-elsewhere',
        'prediction database rds',
        'results database',
      ]);
      for (const name of [
        'Kubernetes API',
        'model store of iris',
        'prediction database rds',
        'results database',
      ]) {
        const c = byName.get(name);
        assert.equal(c.ok, true, `${name}: ${c.error}`);
        assert.ok(Number.isInteger(c.latencyMs) && c.latencyMs >= 0);
      }
      assert.equal(byName.get('Kubernetes API').target, `${cp.server} (namespace ${NS})`);
      console.log(
        `connections: ${connections.map((c: Obj) => `${c.name} ${c.latencyMs} ms`).join(', ')}`,
      );
      const failing = byName.get('model store of iris-elsewhere');
      assert.equal(failing.ok, false);
      assert.equal(failing.target, `s3://${missingBucket}/`);
      assert.match(failing.error, new RegExp(missingBucket));
    });

    it("shows why a stage failed: its run's message and each attempt's log", async () => {
      const broken = irisManifest('iris-broken', { sourceTable: 'no_such_table' });
      broken.spec.stages = { collect: { retries: 1 } };
      await create(PIPELINES, broken);
      const started = await http('POST', '/api/pipelines/iris-broken/runs', { token: TOKEN });
      assert.equal(started.status, 201, started.text);
      const failedRun: string = started.body.runId;

      const run = await eventually(`run ${failedRun} to fail`, RUN_TIMEOUT_MS, async () => {
        const r = await getJson(`/api/pipelines/iris-broken/runs/${failedRun}`);
        return r.phase === 'Failed' || r.phase === 'Succeeded' ? r : undefined;
      });
      assert.equal(run.phase, 'Failed', JSON.stringify(run));
      assert.match(run.message, /stage collect failed/);
      assert.deepEqual(
        run.stages.map((s: Obj) => `${s.stage}:${s.phase}:${s.attempts}`),
        ['collect:Failed:2', 'clean:Skipped:0', 'train:Skipped:0', 'predict:Skipped:0'],
      );

      const log = await http(
        'GET',
        `/api/pipelines/iris-broken/runs/${failedRun}/stages/collect/logs`,
      );
      assert.equal(log.status, 200, log.text);
      const attempts = [...log.text.matchAll(/^--- attempt (\d): pod (\S+) ---$/gm)];
      assert.deepEqual(
        attempts.map((m) => m[1]),
        ['1', '2'],
      );
      const sections = log.text.split(/^--- attempt \d: pod \S+ ---$/m).slice(1);
      assert.equal(sections.length, 2);
      for (const section of sections)
        assert.match(section, /source table no_such_table does not exist/);
      const skipped = await http(
        'GET',
        `/api/pipelines/iris-broken/runs/${failedRun}/stages/clean/logs`,
      );
      assert.equal(skipped.status, 404);

      const summary = (await getJson('/api/pipelines')).pipelines.find(
        (p: Obj) => p.name === 'iris-broken',
      );
      assert.equal(summary.lastRun.runId, failedRun);
      assert.equal(summary.lastRun.phase, 'Failed');
    });

    it('holds only the UI Role: no Secrets, no new pipelines, no status writes', async () => {
      const asUi = apiClient<Obj>(cp, uiToken);
      assert.equal((await asUi('GET', `/api/v1/namespaces/${NS}/secrets`)).status, 403);
      assert.equal((await asUi('POST', PIPELINES, irisManifest('not-allowed'))).status, 403);
      assert.equal((await asUi('DELETE', `${PIPELINES}/iris`)).status, 403);
      const status = await asUi(
        'PATCH',
        `${PIPELINES}/iris/status`,
        { status: { recentRuns: [] } },
        'application/merge-patch+json',
      );
      assert.equal(status.status, 403);
      assert.equal((await asUi('GET', `/api/v1/namespaces/default/pods`)).status, 403);

      const log = await readFile(cluster!.uiLogFile, 'utf8');
      assert.doesNotMatch(log, /forbidden/i, 'the UI was refused nothing');
    });
  },
);
