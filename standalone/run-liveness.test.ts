import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { configFromEnv } from '../core/config.js';
import { createLogger } from '../core/log.js';
import type { RunRecord } from '../core/ports.js';
import { loadPipelines } from '../core/spec/load.js';
import { parseMysqlUrl } from '../jobs/adapters/mysql-config.js';
import { createRuntime } from '../jobs/runtime.js';
import { writePipelineFile } from '../test/fixtures/pipeline-file.js';
import { testMysqlUrl } from '../test/infra/env.js';
import { assembleStandalone } from './assemble.js';
import { mysqlLiveness } from './run-liveness.js';

const quiet = createLogger({ level: 'silent' });

/** A run as a process left it when it was killed during clean. */
function leftRunning(pipeline: string, runId: string): RunRecord {
  return {
    pipeline,
    runId,
    trigger: 'manual',
    startStage: 'collect',
    phase: 'Running',
    startedAt: new Date().toISOString(),
    stages: [
      { stage: 'collect', phase: 'Succeeded', attempts: 1 },
      { stage: 'clean', phase: 'Running', attempts: 1 },
      { stage: 'train', phase: 'Pending', attempts: 0 },
      { stage: 'predict', phase: 'Pending', attempts: 0 },
    ],
  };
}

const backends: { name: string; env: (dataDir: string) => Record<string, string> }[] = [
  { name: 'SQLite', env: (dataDir) => ({ MLPIPELINE_DATA_DIR: dataDir }) },
  {
    name: 'MariaDB',
    env: (dataDir) => ({ MLPIPELINE_DATA_DIR: dataDir, MYSQL_URL: testMysqlUrl() }),
  },
];

for (const backend of backends) {
  describe(`runs left by a stopped process, on ${backend.name}`, () => {
    it('are ended at start-up as interrupted, saying why', async () => {
      const name = `gone-${Date.now().toString(36)}`;
      const pipelines = loadPipelines(writePipelineFile(name, "  schedule: '0 0 1 1 *'"));
      const env = backend.env(mkdtempSync(join(tmpdir(), 'mlp-liveness-')));
      const runtime = await createRuntime(configFromEnv(env), quiet, env);
      try {
        const run = leftRunning(name, `${name}-manual-20261204153007-a`);
        await runtime.results.claimRun(run);
        await runtime.results.saveRun(run);

        const standalone = await assembleStandalone({
          pipelines,
          runtime,
          log: quiet,
          workerEnv: env,
        });
        await standalone.close();

        const after = await runtime.results.getRun(name, run.runId);
        assert.equal(after?.phase, 'Failed');
        assert.match(after?.message ?? '', /^interrupted: the process running it stopped/);
        assert.deepEqual(
          after?.stages.map((s) => s.phase),
          ['Succeeded', 'Failed', 'Skipped', 'Skipped'],
        );
        assert.ok(after?.finishedAt, 'the run has an end');
      } finally {
        await runtime.close();
      }
    });
  });
}

describe('runs of a process still working, on MariaDB', () => {
  it('are left alone until that process lets go of them', async () => {
    const name = `alive-${Date.now().toString(36)}`;
    const pipelines = loadPipelines(writePipelineFile(name, "  schedule: '0 0 1 1 *'"));
    const env = {
      MLPIPELINE_DATA_DIR: mkdtempSync(join(tmpdir(), 'mlp-liveness-')),
      MYSQL_URL: testMysqlUrl(),
    };
    const runtime = await createRuntime(configFromEnv(env), quiet, env);
    // The other process, working on the run: its own connection holds the run.
    const other = mysqlLiveness(parseMysqlUrl(testMysqlUrl()));
    try {
      const run = leftRunning(name, `${name}-manual-20261204153007-b`);
      await runtime.results.claimRun(run);
      await runtime.results.saveRun(run);
      await other.hold(run);

      const first = await assembleStandalone({ pipelines, runtime, log: quiet, workerEnv: env });
      await first.close();
      assert.equal((await runtime.results.getRun(name, run.runId))?.phase, 'Running');

      // The other process is gone: its connection, and with it its hold, ends.
      await other.close();
      const second = await assembleStandalone({ pipelines, runtime, log: quiet, workerEnv: env });
      await second.close();
      assert.equal((await runtime.results.getRun(name, run.runId))?.phase, 'Failed');
    } finally {
      await other.close().catch(() => undefined);
      await runtime.close();
    }
  });
});
