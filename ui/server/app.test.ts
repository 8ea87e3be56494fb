import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configFromEnv } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { loadPipelines } from '../../core/spec/load.js';
import { executeRun } from '../../jobs/run-executor.js';
import { createRuntime, type Runtime } from '../../jobs/runtime.js';
import { STAGE_FUNCTIONS } from '../../jobs/stages/index.js';
import { Scheduler } from '../../standalone/scheduler.js';
import { StandaloneService } from '../../standalone/service.js';
import { createApiApp } from './app.js';

const TOKEN = 'test-token-1234';
const quiet = createLogger({ level: 'silent' });

describe('the HTTP API in single-container mode', () => {
  let runtime: Runtime;
  let scheduler: Scheduler;
  let server: Server;
  let base: string;

  before(async () => {
    const pipelines = loadPipelines(fileURLToPath(new URL('../../examples/', import.meta.url)));
    runtime = await createRuntime(
      configFromEnv({ MLPIPELINE_DATA_DIR: mkdtempSync(join(tmpdir(), 'mlp-api-')) }),
      quiet,
      {},
    );
    scheduler = new Scheduler({
      pipelines,
      results: runtime.results,
      log: quiet,
      startRun: (run, signal) =>
        executeRun({
          run,
          signal,
          retries: () => 0,
          stages: STAGE_FUNCTIONS,
          contextFor: () => runtime.contextFor(pipelines[0]!, run.runId, quiet),
          results: runtime.results,
          log: quiet,
        }),
    });
    const app = createApiApp({
      service: new StandaloneService(pipelines, runtime, scheduler, quiet),
      log: quiet,
      token: TOKEN,
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.close();
    await scheduler.stop();
    await runtime.close();
  });

  async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(base + path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function post(path: string, body: unknown, token?: string) {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('answers health checks', async () => {
    assert.equal((await get('/healthz')).status, 200);
  });

  it('lists the pipeline before any run', async () => {
    const { body } = await get('/api/pipelines');
    const [iris] = body.pipelines as { name: string; schedule: string; currentModel?: unknown }[];
    assert.equal(iris!.name, 'iris');
    assert.equal(iris!.schedule, '*/2 * * * *');
    assert.equal(iris!.currentModel, undefined);
  });

  it('refuses run now without the right token', async () => {
    assert.equal((await post('/api/pipelines/iris/runs', {})).status, 401);
    const wrong = await post('/api/pipelines/iris/runs', {}, 'nope');
    assert.equal(wrong.status, 403);
    assert.match(String(wrong.body.error), /not valid/);
  });

  it('runs now, then shows the run, the promoted model and 150 predictions', async () => {
    const started = await post('/api/pipelines/iris/runs', {}, TOKEN);
    assert.equal(started.status, 201);
    const runId = String(started.body.runId);
    assert.match(runId, /^iris-manual-\d{14}-[a-z0-9]{4}$/);
    await scheduler.idle();

    const run = await get(`/api/pipelines/iris/runs/${runId}`);
    assert.equal(run.body.phase, 'Succeeded', String(run.body.message));

    const { body: list } = await get('/api/pipelines');
    const iris = (list.pipelines as { currentModel: { version: string; accuracy: number } }[])[0]!;
    assert.ok(iris.currentModel.accuracy >= 0.9);

    const models = (await get('/api/pipelines/iris/models')).body.models as {
      version: string;
      current: boolean;
    }[];
    assert.equal(models.length, 1);
    assert.equal(models[0]!.current, true);

    const page = await get(`/api/pipelines/iris/predictions?runId=${runId}&limit=2&offset=148`);
    assert.equal(page.body.total, 150);
    assert.equal((page.body.rows as unknown[]).length, 2);
  });

  it('predicts from feature values', async () => {
    const { status, body } = await post('/api/pipelines/iris/predict', {
      features: { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 },
    });
    assert.equal(status, 200);
    assert.equal(body.label, 'setosa');
    const probabilities = body.probabilities as Record<string, number>;
    assert.ok(Math.abs(Object.values(probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-9);
  });

  const badRequests: {
    name: string;
    path: string;
    body?: unknown;
    status: number;
    error: RegExp;
  }[] = [
    {
      name: 'a missing feature',
      path: '/api/pipelines/iris/predict',
      body: { features: { sepal_length: 5 } },
      status: 400,
      error: /features: missing sepal_width/,
    },
    {
      name: 'a non-numeric feature',
      path: '/api/pipelines/iris/predict',
      body: {
        features: { sepal_length: 'five', sepal_width: 3, petal_length: 1, petal_width: 0.2 },
      },
      status: 400,
      error: /features.sepal_length: must be a number/,
    },
    {
      name: 'no features object',
      path: '/api/pipelines/iris/predict',
      body: { x: 1 },
      status: 400,
      error: /^features: must be an object/,
    },
    {
      name: 'a paging limit out of range',
      path: '/api/pipelines/iris/predictions?limit=5000',
      status: 400,
      error: /^limit: must be a whole number from 1 to 1000/,
    },
    {
      name: 'a non-numeric offset',
      path: '/api/pipelines/iris/predictions?offset=abc',
      status: 400,
      error: /^offset:/,
    },
    {
      name: 'an unknown pipeline',
      path: '/api/pipelines/roses',
      status: 404,
      error: /no pipeline named "roses"/,
    },
    {
      name: 'an unknown run',
      path: '/api/pipelines/iris/runs/iris-209901010000',
      status: 404,
      error: /no run/,
    },
    { name: 'an unknown route', path: '/api/nothing', status: 404, error: /no such API route/ },
  ];
  for (const c of badRequests) {
    it(`answers ${c.status} naming the problem for ${c.name}`, async () => {
      const res = c.body === undefined ? await get(c.path) : await post(c.path, c.body);
      assert.equal(res.status, c.status);
      assert.match(String(res.body.error), c.error);
      assert.doesNotMatch(JSON.stringify(res.body), /at .*\.ts:\d+/, 'no stack trace');
    });
  }

  it('rejects a malformed JSON body with 400', async () => {
    const res = await fetch(`${base}/api/pipelines/iris/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"features": ',
    });
    assert.equal(res.status, 400);
  });

  it('reports the connections it uses', async () => {
    const { body } = await get('/api/connections');
    const checks = body.connections as { name: string; ok: boolean }[];
    assert.ok(checks.length >= 2);
    assert.ok(checks.every((c) => c.ok));
  });
});
