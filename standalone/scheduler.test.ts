import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createLogger } from '../core/log.js';
import type { ResultsStore, RunRecord } from '../core/ports.js';
import { loadPipelines, type Pipeline } from '../core/spec/load.js';
import { parseMysqlUrl } from '../jobs/adapters/mysql-config.js';
import { MysqlResultsStore } from '../jobs/adapters/mysql-results-store.js';
import { SqliteResultsStore } from '../jobs/adapters/sqlite-results-store.js';
import { writePipelineFile } from '../test/fixtures/pipeline-file.js';
import { testMysqlUrl } from '../test/infra/env.js';
import { Scheduler } from './scheduler.js';

const quiet = createLogger({ level: 'silent' });

function pipeline(name: string, extra = ''): Pipeline {
  return loadPipelines(writePipelineFile(name, extra))[0]!;
}

/** A run starter that records what it was asked to run and finishes when told. */
function recorder() {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  return {
    started,
    finishAll: () => [...finish.values()].forEach((f) => f()),
    startRun: (run: RunRecord) => {
      started.push(run.runId);
      return new Promise<RunRecord>((resolve) => finish.set(run.runId, () => resolve(run)));
    },
  };
}

type StoreFactory = () => Promise<ResultsStore>;

const backends: { name: string; open: (tag: string) => StoreFactory }[] = [
  {
    name: 'SQLite file',
    open: (tag) => {
      const file = join(mkdtempSync(join(tmpdir(), `mlp-${tag}-`)), 'results.db');
      return async () => {
        const store = new SqliteResultsStore(file);
        await store.init();
        return store;
      };
    },
  },
  {
    name: 'MariaDB',
    open: () => async () => {
      const store = new MysqlResultsStore(parseMysqlUrl(testMysqlUrl()));
      await store.init();
      return store;
    },
  },
];

const opened: ResultsStore[] = [];
after(async () => {
  await Promise.all(opened.map((s) => s.close()));
});

for (const backend of backends) {
  describe(`scheduler on ${backend.name}`, () => {
    it('two schedulers on one database run each slot once', async () => {
      const name = `two-${Date.now().toString(36)}`;
      const p = pipeline(name);
      const factory = backend.open('two');
      let now = new Date('2026-12-04T15:30:05Z');
      const a = recorder();
      const b = recorder();
      const stores = [await factory(), await factory()];
      opened.push(...stores);
      const schedulers = [a, b].map(
        (r, i) =>
          new Scheduler({
            pipelines: [p],
            results: stores[i]!,
            startRun: r.startRun,
            log: quiet,
            now: () => now,
          }),
      );

      await Promise.all(schedulers.map((s) => s.tick()));
      now = new Date('2026-12-04T15:32:02Z');
      a.finishAll();
      b.finishAll();
      await Promise.all(schedulers.map((s) => s.idle()));
      await Promise.all(schedulers.map((s) => s.tick()));
      a.finishAll();
      b.finishAll();

      const all = [...a.started, ...b.started].sort();
      assert.deepEqual(all, [`${name}-202612041530`, `${name}-202612041532`]);
      const runs = await stores[0]!.listRuns(name, 10);
      assert.equal(runs.length, 2);
    });

    it('after a restart, RunLatest runs the latest slot and records every missed one as skipped', async () => {
      const name = `miss-${Date.now().toString(36)}`;
      const p = pipeline(
        name,
        '  missedRuns: { policy: RunLatest }\n  startingDeadlineSeconds: 30\n',
      );
      const store = await backend.open('miss')();
      opened.push(store);
      await store.setLastScheduleTime(name, 'pipeline', '2026-12-04T15:32:00.000Z');
      const r = recorder();
      const scheduler = new Scheduler({
        pipelines: [p],
        results: store,
        startRun: r.startRun,
        log: quiet,
        now: () => new Date('2026-12-04T15:53:10Z'),
      });
      await scheduler.tick();
      r.finishAll();

      assert.deepEqual(r.started, [`${name}-202612041552`]);
      const runs = await store.listRuns(name, 50);
      const skipped = runs
        .filter((run) => run.phase === 'Skipped')
        .map((run) => run.runId)
        .sort();
      assert.equal(skipped.length, 9, JSON.stringify(runs.map((x) => [x.runId, x.phase])));
      assert.equal(skipped[0], `${name}-202612041534`);
      assert.equal(await store.getLastScheduleTime(name, 'pipeline'), '2026-12-04T15:52:00.000Z');
    });

    it('Forbid records a slot as skipped while a run is active', async () => {
      const name = `forbid-${Date.now().toString(36)}`;
      const p = pipeline(name, '  concurrencyPolicy: Forbid\n');
      const store = await backend.open('forbid')();
      opened.push(store);
      let now = new Date('2026-12-04T15:30:01Z');
      const r = recorder();
      const scheduler = new Scheduler({
        pipelines: [p],
        results: store,
        startRun: r.startRun,
        log: quiet,
        now: () => now,
      });
      await scheduler.tick();
      now = new Date('2026-12-04T15:32:01Z');
      await scheduler.tick();
      r.finishAll();
      await scheduler.idle();

      assert.deepEqual(r.started, [`${name}-202612041530`]);
      const second = await store.getRun(name, `${name}-202612041532`);
      assert.equal(second?.phase, 'Skipped');
      assert.match(second?.message ?? '', /active|running|Forbid/i);
    });

    it('a pipeline suspended from outside the file starts nothing and owes nothing on resume', async () => {
      const name = `susp-${Date.now().toString(36)}`;
      const p = pipeline(name);
      const store = await backend.open('susp')();
      opened.push(store);
      let suspended = true;
      let now = new Date('2026-12-04T15:30:05Z');
      const r = recorder();
      const changed: string[] = [];
      const scheduler = new Scheduler({
        pipelines: [p],
        results: store,
        startRun: r.startRun,
        log: quiet,
        now: () => now,
        isSuspended: () => suspended,
        onRunChange: (run) => changed.push(run.runId),
      });
      await scheduler.tick();
      await assert.rejects(scheduler.runNow(name), /is suspended; resume it to run it/);
      now = new Date('2026-12-04T15:34:05Z');
      await scheduler.tick();
      assert.deepEqual(r.started, []);

      suspended = false;
      now = new Date('2026-12-04T15:36:05Z');
      await scheduler.tick();
      r.finishAll();
      await scheduler.idle();
      assert.deepEqual(r.started, [`${name}-202612041536`]);
      assert.deepEqual(changed, [`${name}-202612041536`, `${name}-202612041536`]);
    });
  });
}
