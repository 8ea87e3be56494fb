import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configFromEnv } from '../../core/config.js';
import { createLogger } from '../../core/log.js';
import type { RunRecord, StageName } from '../../core/ports.js';
import { loadPipelines, type Pipeline } from '../../core/spec/load.js';
import { readCurrentPointer } from '../../jobs/model-version.js';
import { executeRun } from '../../jobs/run-executor.js';
import { createRuntime, type Runtime } from '../../jobs/runtime.js';
import { STAGE_FUNCTIONS } from '../../jobs/stages/index.js';
import { writePipelineFile } from '../fixtures/pipeline-file.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const quiet = createLogger({ level: 'silent' });

function newRun(pipeline: Pipeline, runId: string, startStage: StageName = 'collect'): RunRecord {
  return {
    pipeline: pipeline.name,
    runId,
    trigger: 'manual',
    startStage,
    phase: 'Pending',
    startedAt: new Date().toISOString(),
    stages: [],
  };
}

async function run(
  runtime: Runtime,
  pipeline: Pipeline,
  runId: string,
  startStage: StageName = 'collect',
) {
  const record = newRun(pipeline, runId, startStage);
  if (!(await runtime.results.claimRun(record))) await runtime.results.saveRun(record);
  return executeRun({
    run: record,
    retries: () => 0,
    stages: STAGE_FUNCTIONS,
    contextFor: (stage) => runtime.contextFor(pipeline, runId, quiet.child({ stage })),
    results: runtime.results,
    log: quiet,
    sleep: () => Promise.resolve(),
  });
}

describe('a whole run with embedded storage', () => {
  it('trains and promotes a model of accuracy >= 0.9 and writes 150 predictions; a rerun adds none', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mlp-run-'));
    const runtime = await createRuntime(configFromEnv({ MLPIPELINE_DATA_DIR: dataDir }), quiet, {});
    try {
      const [iris] = loadPipelines(examples);
      const first = await run(runtime, iris!, 'iris-202612041530');
      assert.equal(first.phase, 'Succeeded', first.message);
      const train = first.stages.find((s) => s.stage === 'train')!.summary!;
      assert.equal(train.promoted, true);
      assert.ok((train.metrics as { accuracy: number }).accuracy >= 0.9);

      const sink = await runtime.predictionSinkFor(iris!);
      const page = await sink.store.queryPredictions(sink.table, {
        pipeline: 'iris',
        runId: first.runId,
        limit: 10,
        offset: 0,
      });
      assert.equal(page.total, 150);
      assert.equal(page.rows[0]!.modelVersion, train.modelVersion);

      const again = await run(runtime, iris!, 'iris-202612041530');
      assert.equal(again.phase, 'Succeeded');
      const all = await sink.store.queryPredictions(sink.table, {
        pipeline: 'iris',
        limit: 1,
        offset: 0,
      });
      assert.equal(all.total, 150, 'a rerun replaces its rows');
    } finally {
      await runtime.close();
    }
  });

  it('a failing train publishes nothing, and predict keeps the previous model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-fail-'));
    const runtime = await createRuntime(
      configFromEnv({ MLPIPELINE_DATA_DIR: join(dir, 'data') }),
      quiet,
      {},
    );
    try {
      const good = loadPipelines(writePipelineFile('flowers', '', dir))[0]!;
      const first = await run(runtime, good, 'flowers-202612041530');
      assert.equal(first.phase, 'Succeeded', first.message);
      const store = runtime.artifactsFor(good);
      const before = await readCurrentPointer(store);
      const versionsBefore = await store.list('models/');

      // Values near the largest double overflow the gradient: the weights come
      // out infinite, and the stage must fail rather than publish them.
      const rows = Array.from(
        { length: 40 },
        (_, i) => `${i % 2 ? '1e308' : '-1e308'},${i},${i % 2 ? 'a' : 'b'}`,
      );
      writeFileSync(join(dir, 'huge.csv'), ['x1,x2,kind', ...rows].join('\n'));
      const diverging = loadPipelines(
        writePipelineFile(
          'flowers',
          `  source: { csv: { path: huge.csv } }
  features: [x1, x2]
  label: kind
  clean: { standardize: false }
  train: { algorithm: ml-logistic-regression, params: { numSteps: 50 } }
`,
          dir,
        ),
      )[0]!;
      const failed = await run(runtime, diverging, 'flowers-202612041532');
      assert.equal(failed.phase, 'Failed');
      const trainStage = failed.stages.find((s) => s.stage === 'train')!;
      assert.equal(trainStage.phase, 'Failed');
      assert.match(trainStage.message ?? '', /Infinity|finite/i);
      assert.equal(failed.stages.find((s) => s.stage === 'predict')!.phase, 'Skipped');
      assert.deepEqual(await readCurrentPointer(store), before);
      assert.deepEqual(await store.list('models/'), versionsBefore);

      const scored = await run(runtime, good, 'flowers-predict-202612041534', 'predict');
      assert.equal(scored.phase, 'Succeeded', scored.message);
      assert.equal(scored.stages[0]!.summary!.modelVersion, before!.version);
    } finally {
      await runtime.close();
    }
  });
});
