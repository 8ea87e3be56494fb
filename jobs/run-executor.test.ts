import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { RunReplacedError, UserError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { RunRecord, StageName } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import { SqliteResultsStore } from './adapters/sqlite-results-store.js';
import { executeRun } from './run-executor.js';
import type { StageContext, StageFunctions } from './stages/context.js';

const quiet = createLogger({ level: 'silent' });
const store = new SqliteResultsStore(join(mkdtempSync(join(tmpdir(), 'mlp-exec-')), 'results.db'));
after(() => store.close());

function run(runId: string, startStage: StageName = 'collect'): RunRecord {
  return {
    pipeline: 'p',
    runId,
    trigger: 'manual',
    startStage,
    phase: 'Pending',
    startedAt: '2026-12-04T15:30:00.000Z',
    stages: [],
  };
}

/** Stage functions that follow a script: how many times each fails first, and how. */
function scripted(failures: Partial<Record<StageName, { times: number; error: () => Error }>>) {
  const calls: StageName[] = [];
  const stage = (name: StageName) => () => {
    calls.push(name);
    const f = failures[name];
    if (f && f.times > 0) {
      f.times--;
      return Promise.reject(f.error());
    }
    return Promise.resolve({ stage: name });
  };
  const stages: StageFunctions = {
    collect: stage('collect'),
    clean: stage('clean'),
    train: stage('train'),
    predict: stage('predict'),
  };
  return { calls, stages };
}

async function execute(
  record: RunRecord,
  stages: StageFunctions,
  retries = 0,
  signal?: AbortSignal,
) {
  await store.init();
  await store.claimRun(record);
  const delays: number[] = [];
  const result = await executeRun({
    run: record,
    retries: () => retries,
    stages,
    contextFor: () => ({ pipeline: { name: 'p' } as Pipeline }) as StageContext,
    results: store,
    log: quiet,
    ...(signal && { signal }),
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  return { result, delays, stored: await store.getRun('p', record.runId) };
}

describe('executeRun', () => {
  it('runs the stages in order and records each', async () => {
    const { calls, stages } = scripted({});
    const { result, stored } = await execute(run('p-1'), stages);
    assert.deepEqual(calls, ['collect', 'clean', 'train', 'predict']);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(
      stored?.stages.map((s) => s.phase),
      ['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded'],
    );
    assert.ok(stored?.finishedAt);
  });

  it('starts at a later stage and runs only what follows', async () => {
    const { calls, stages } = scripted({});
    await execute(run('p-2', 'train'), stages);
    assert.deepEqual(calls, ['train', 'predict']);
  });

  it('retries a failing stage with backoff and succeeds', async () => {
    const { calls, stages } = scripted({
      train: { times: 2, error: () => new Error('connection reset') },
    });
    const { result, delays } = await execute(run('p-3'), stages, 2);
    assert.equal(result.phase, 'Succeeded');
    assert.deepEqual(calls, ['collect', 'clean', 'train', 'train', 'train', 'predict']);
    assert.deepEqual(delays, [1000, 2000]);
    assert.equal(result.stages.find((s) => s.stage === 'train')!.attempts, 3);
  });

  it('fails the run after the last retry and starts nothing after it', async () => {
    const { calls, stages } = scripted({
      clean: { times: 5, error: () => new Error('disk full') },
    });
    const { result, stored } = await execute(run('p-4'), stages, 1);
    assert.equal(result.phase, 'Failed');
    assert.equal(result.message, 'stage clean failed: disk full');
    assert.deepEqual(calls, ['collect', 'clean', 'clean']);
    assert.deepEqual(
      stored?.stages.map((s) => s.phase),
      ['Succeeded', 'Failed', 'Skipped', 'Skipped'],
    );
  });

  it('does not retry a problem the user must fix', async () => {
    const { calls, stages } = scripted({
      collect: { times: 5, error: () => new UserError('spec.source: no such table') },
    });
    const { result } = await execute(run('p-5'), stages, 3);
    assert.equal(result.phase, 'Failed');
    assert.deepEqual(calls, ['collect']);
  });

  it('a run replaced by a newer one ends Replaced, not Failed, and says by which', async () => {
    const replacing = new AbortController();
    const { stages } = scripted({});
    const collect = stages.collect;
    // The newer run starts while collect works.
    stages.collect = async (context) => {
      const summary = await collect(context);
      replacing.abort(new RunReplacedError('p-7'));
      return summary;
    };
    const { result, stored } = await execute(run('p-6'), stages, 0, replacing.signal);
    assert.equal(result.phase, 'Replaced');
    assert.equal(result.message, 'replaced by run p-7 (concurrencyPolicy Replace)');
    assert.deepEqual(
      stored?.stages.map((s) => s.phase),
      ['Succeeded', 'Skipped', 'Skipped', 'Skipped'],
    );
    assert.match(stored?.stages[1]?.message ?? '', /^not started: replaced by run p-7/);
  });

  it('a run stopped for another reason fails, and the stage it did not start is not blamed', async () => {
    const stopping = new AbortController();
    stopping.abort(new Error('the scheduler is stopping'));
    const { result, stored } = await execute(run('p-8'), scripted({}).stages, 0, stopping.signal);
    assert.equal(result.phase, 'Failed');
    assert.equal(result.message, 'stopped before stage collect: the scheduler is stopping');
    assert.deepEqual(
      stored?.stages.map((s) => s.phase),
      ['Skipped', 'Skipped', 'Skipped', 'Skipped'],
      'no stage is blamed for not starting',
    );
  });
});
