import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configFromEnv } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import { loadPipelines } from '../../core/spec/load.js';
import { createRuntime, type Runtime } from '../../jobs/runtime.js';
import { assembleStandalone } from '../../standalone/assemble.js';
import type { ChangeFeed } from '../../standalone/change-feed.js';
import type { Scheduler } from '../../standalone/scheduler.js';
import { createApiApp } from './app.js';
import type { PipelineChange } from './service.js';

const TOKEN = 'test-token-1234';
const quiet = createLogger({ level: 'silent' });

describe('the HTTP API in single-container mode', () => {
  let runtime: Runtime;
  let scheduler: Scheduler;
  let changes: ChangeFeed;
  let server: Server;
  let base: string;
  let webRoot: string;

  before(async () => {
    const pipelines = loadPipelines(fileURLToPath(new URL('../../examples/', import.meta.url)));
    const dataDir = mkdtempSync(join(tmpdir(), 'mlp-api-'));
    runtime = await createRuntime(configFromEnv({ MLPIPELINE_DATA_DIR: dataDir }), quiet, {});
    const parts = await assembleStandalone({
      pipelines,
      runtime,
      log: quiet,
      workerEnv: { PATH: process.env.PATH, MLPIPELINE_DATA_DIR: dataDir },
      echoRunLogs: false,
    });
    scheduler = parts.scheduler;
    changes = parts.changes;
    webRoot = mkdtempSync(join(tmpdir(), 'mlp-web-'));
    mkdirSync(join(webRoot, 'assets'));
    writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>mlpipeline</title>');
    writeFileSync(join(webRoot, 'assets', 'app-1234.js'), 'export {};');
    const app = createApiApp({
      service: parts.service,
      log: quiet,
      token: TOKEN,
      webRoot,
      events: { heartbeatMs: 200 },
    });
    server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await scheduler.stop();
    await runtime.close();
  });

  /** An /api/events stream read as it arrives, as a browser's EventSource would. */
  async function openEvents() {
    const controller = new AbortController();
    const res = await fetch(`${base}/api/events`, { signal: controller.signal });
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const stream = {
      changes: [] as PipelineChange[],
      heartbeats: 0,
      close: () => controller.abort(),
    };
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += value;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (block.includes(': heartbeat')) stream.heartbeats++;
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (data) stream.changes.push(JSON.parse(data) as PipelineChange);
          }
        }
      } catch {
        // Aborted by close().
      }
    })();
    return stream;
  }

  async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

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

  let runId = '';

  it('runs now, then shows the run, the promoted model and 150 predictions', async () => {
    const events = await openEvents();
    const started = await post('/api/pipelines/iris/runs', {}, TOKEN);
    assert.equal(started.status, 201);
    runId = String(started.body.runId);
    assert.match(runId, /^iris-manual-\d{14}-[a-z0-9]{4}$/);
    await scheduler.idle();
    await until(() => events.changes.some((c) => c.kind === 'model'));
    events.close();

    // Start, each stage's start and end, and the finish, all pushed as they happened.
    const runChanges = events.changes.filter((c) => c.kind === 'run' && c.runId === runId);
    assert.ok(runChanges.length >= 9, `${runChanges.length} run changes`);
    assert.ok(events.heartbeats >= 1, 'heartbeats keep the stream open');

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

  it('shows the log of each stage of a finished run', async () => {
    const res = await fetch(`${base}/api/pipelines/iris/runs/${runId}/stages/train/logs`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stage: string; run: string; msg: string });
    assert.ok(lines.every((l) => l.stage === 'train' && l.run === runId));
    assert.ok(lines.some((l) => l.msg === 'stage succeeded'));

    const bad = await get(`/api/pipelines/iris/runs/${runId}/stages/deploy/logs`);
    assert.equal(bad.status, 400);
    assert.match(String(bad.body.error), /^stage: must be one of collect, clean, train, predict/);
    const none = await get('/api/pipelines/iris/runs/iris-209901010000/stages/train/logs');
    assert.equal(none.status, 404);
  });

  it('suspends and resumes only with the token, remembered across a restart', async () => {
    assert.equal((await post('/api/pipelines/iris/suspend', {})).status, 401);
    assert.equal((await post('/api/pipelines/iris/suspend', {}, 'nope')).status, 403);

    const events = await openEvents();
    const suspended = await post('/api/pipelines/iris/suspend', {}, TOKEN);
    assert.equal(suspended.status, 200);
    assert.equal(suspended.body.suspended, true);
    assert.equal(suspended.body.nextRunAt, undefined);
    await until(() => events.changes.some((c) => c.kind === 'pipeline'));
    events.close();

    const refused = await post('/api/pipelines/iris/runs', {}, TOKEN);
    assert.equal(refused.status, 409);
    assert.match(String(refused.body.error), /suspended/);

    // A new process on the same storage reads the same state.
    const restarted = await assembleStandalone({
      pipelines: loadPipelines(fileURLToPath(new URL('../../examples/', import.meta.url))),
      runtime,
      log: quiet,
    });
    assert.equal((await restarted.service.listPipelines())[0]!.suspended, true);

    const resumed = await post('/api/pipelines/iris/resume', {}, TOKEN);
    assert.equal(resumed.body.suspended, false);
    assert.equal(
      ((await get('/api/pipelines')).body.pipelines as { suspended: boolean }[])[0]!.suspended,
      false,
    );
  });

  it('ends an event stream when its client goes', async () => {
    const before = changes.listenerCount;
    const events = await openEvents();
    await until(() => changes.listenerCount === before + 1);
    events.close();
    await until(() => changes.listenerCount === before);
  });

  it('says whether actions are possible, without the token', async () => {
    const { body } = await get('/api/session');
    assert.deepEqual(body, { mode: 'standalone', actions: true });
  });

  it('serves the web app with security headers, deep links included', async () => {
    for (const path of ['/', '/pipelines/iris', '/predictions']) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      assert.match(await res.text(), /<title>mlpipeline<\/title>/);
      assert.equal(res.headers.get('cache-control'), 'no-cache');
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /script-src 'self'/);
      assert.doesNotMatch(csp, /upgrade-insecure-requests/);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    }
    const asset = await fetch(`${base}/assets/app-1234.js`);
    assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
    assert.equal((await fetch(`${base}/assets/missing.js`)).status, 404);
  });

  it('refuses a body over the limit with 413', async () => {
    const res = await fetch(`${base}/api/pipelines/iris/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ features: { x: 'y'.repeat(100_000) } }),
    });
    assert.equal(res.status, 413);
  });

  it('asks for JSON when a body comes as something else, with 415', async () => {
    const res = await fetch(`${base}/api/pipelines/iris/predict`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ features: { sepal_length: 5.1 } }),
    });
    assert.equal(res.status, 415);
    const body = (await res.json()) as { error: string };
    assert.match(body.error, /Content-Type: application\/json.*got text\/plain/);
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
