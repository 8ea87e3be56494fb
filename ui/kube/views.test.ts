import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { V1Job } from '@kubernetes/client-node';

import type { MLPipelineResource } from '../../controller/kube.js';
import { runNowRunId } from '../../controller/names.js';
import type { MLPipelineStatus, RunStatus } from '../../controller/status.js';
import type { MLPipelineSpec } from '../../core/spec/types.generated.js';
import {
  activeRunIds,
  jobChange,
  pipelineChanges,
  pipelineSummary,
  requestedRun,
  runNowRefusal,
  runRecord,
  runRecords,
} from './views.js';

const spec = {
  schedule: '*/2 * * * *',
  timeZone: 'Etc/UTC',
  suspend: false,
  concurrencyPolicy: 'Forbid',
  historyLimit: 20,
  features: ['a', 'b'],
  label: 'y',
  source: { builtin: 'iris' },
  predict: {},
} as unknown as MLPipelineSpec;

const succeeded: RunStatus = {
  id: 'iris-202612041530',
  phase: 'Succeeded',
  scheduledAt: '2026-12-04T15:30:00.000Z',
  startTime: '2026-12-04T15:30:01.000Z',
  completionTime: '2026-12-04T15:30:09.000Z',
  stages: [
    {
      stage: 'collect',
      phase: 'Succeeded',
      startTime: '2026-12-04T15:30:01.000Z',
      completionTime: '2026-12-04T15:30:03.000Z',
      jobName: 'iris-202612041530-collect',
    },
    { stage: 'clean', phase: 'Succeeded', jobName: 'iris-202612041530-clean' },
    { stage: 'train', phase: 'Succeeded', jobName: 'iris-202612041530-train' },
    {
      stage: 'predict',
      phase: 'Succeeded',
      completionTime: '2026-12-04T15:30:09.000Z',
      jobName: 'iris-202612041530-predict',
    },
  ],
};

const skipped: RunStatus = {
  id: 'iris-202612041532',
  phase: 'Skipped',
  scheduledAt: '2026-12-04T15:32:00.000Z',
  message: 'run iris-202612041530 was still going (concurrencyPolicy Forbid)',
  stages: [],
};

function pipeline(
  status: Partial<MLPipelineStatus> | undefined,
  overrides: { suspend?: boolean; runNow?: string } = {},
): MLPipelineResource {
  const resource: MLPipelineResource = {
    apiVersion: 'mlpipeline.dev/v1alpha1',
    kind: 'MLPipeline',
    metadata: { name: 'iris', namespace: 'ml' },
    spec: { ...spec, suspend: overrides.suspend ?? false },
  };
  if (overrides.runNow !== undefined)
    resource.metadata.annotations = { 'mlpipeline.dev/run-now': overrides.runNow };
  if (status !== undefined)
    resource.status = { observedGeneration: 1, conditions: [], recentRuns: [], ...status };
  return resource;
}

function job(runId: string, stage: string, counts: V1Job['status']): V1Job {
  return {
    metadata: {
      name: `${runId}-${stage}`,
      labels: {
        'mlpipeline.dev/pipeline': 'iris',
        'mlpipeline.dev/run-id': runId,
        'mlpipeline.dev/stage': stage,
      },
    },
    status: counts,
  };
}

describe('pipelineSummary', () => {
  it('reads schedule, next run, the newest run that ran and the current model from status', () => {
    const summary = pipelineSummary(
      pipeline({
        nextScheduleTime: '2026-12-04T15:34:00.000Z',
        recentRuns: [skipped, succeeded],
        currentModel: {
          version: 'v20261204-153005-ab12',
          metrics: { accuracy: 0.96, macroF1: 0.95 },
          accuracy: 0.96,
          trainedAt: '2026-12-04T15:30:05.000Z',
          location: 's3://models/iris/models/v20261204-153005-ab12/model.json',
        },
      }),
    );
    assert.deepEqual(summary, {
      name: 'iris',
      schedule: '*/2 * * * *',
      timeZone: 'Etc/UTC',
      suspended: false,
      nextRunAt: '2026-12-04T15:34:00.000Z',
      lastRun: {
        runId: 'iris-202612041530',
        phase: 'Succeeded',
        startedAt: '2026-12-04T15:30:01.000Z',
        finishedAt: '2026-12-04T15:30:09.000Z',
      },
      currentModel: {
        version: 'v20261204-153005-ab12',
        accuracy: 0.96,
        macroF1: 0.95,
        promotedAt: '2026-12-04T15:30:05.000Z',
      },
    });
  });

  it('a suspended pipeline has no next run, and a new pipeline no status at all', () => {
    const suspended = pipelineSummary(
      pipeline({ nextScheduleTime: '2026-12-04T15:34:00.000Z' }, { suspend: true }),
    );
    assert.equal(suspended.suspended, true);
    assert.equal(suspended.nextRunAt, undefined);
    assert.deepEqual(pipelineSummary(pipeline(undefined)), {
      name: 'iris',
      schedule: '*/2 * * * *',
      timeZone: 'Etc/UTC',
      suspended: false,
    });
  });
});

describe('runRecord', () => {
  it('takes phases, times and messages from status and attempts from the Jobs', () => {
    const record = runRecord('iris', succeeded, [
      job('iris-202612041530', 'collect', { succeeded: 1, failed: 2 }),
      job('iris-202612041530', 'clean', { succeeded: 1 }),
      job('iris-other', 'train', { succeeded: 1 }),
    ]);
    assert.equal(record.trigger, 'schedule');
    assert.equal(record.startStage, 'collect');
    assert.equal(record.startedAt, '2026-12-04T15:30:01.000Z');
    assert.equal(record.finishedAt, '2026-12-04T15:30:09.000Z');
    assert.deepEqual(
      record.stages.map((s) => [s.stage, s.phase, s.attempts]),
      [
        ['collect', 'Succeeded', 3],
        ['clean', 'Succeeded', 1],
        ['train', 'Succeeded', 0],
        ['predict', 'Succeeded', 0],
      ],
    );
    assert.deepEqual(record.stages[0]!.summary, { jobName: 'iris-202612041530-collect' });
  });

  it('a skipped slot starts and ends at its slot, with the reason', () => {
    const record = runRecord('iris', skipped, []);
    assert.equal(record.phase, 'Skipped');
    assert.equal(record.startedAt, skipped.scheduledAt);
    assert.equal(record.finishedAt, skipped.scheduledAt);
    assert.equal(record.message, skipped.message);
    assert.deepEqual(record.stages, []);
  });

  it('a manual run not started yet starts at its request time', () => {
    const id = runNowRunId('iris', '2026-12-04T15:31:07.000Z')!;
    const record = runRecord('iris', { id, phase: 'Pending', stages: [] }, []);
    assert.equal(record.trigger, 'manual');
    assert.equal(record.startedAt, '2026-12-04T15:31:07.000Z');
  });
});

describe('requestedRun', () => {
  const value = '2026-12-04T15:31:07.123Z';
  const id = runNowRunId('iris', value)!;

  it('a run-now value the controller has not handled is a Pending manual run', () => {
    const run = requestedRun(pipeline({ recentRuns: [succeeded] }, { runNow: value }));
    assert.equal(run?.runId, id);
    assert.equal(run?.phase, 'Pending');
    assert.equal(run?.trigger, 'manual');
    assert.deepEqual(
      run?.stages.map((s) => s.stage),
      ['collect', 'clean', 'train', 'predict'],
    );
    const runs = runRecords(pipeline({ recentRuns: [succeeded] }, { runNow: value }), []);
    assert.deepEqual(
      runs.map((r) => r.runId),
      [id, succeeded.id],
    );
    assert.deepEqual(activeRunIds(pipeline({ recentRuns: [succeeded] }, { runNow: value })), [id]);
  });

  it('is gone once handled, once in status, or when the value is not a time', () => {
    assert.equal(requestedRun(pipeline({ handledRunNow: value }, { runNow: value })), undefined);
    const inStatus = { ...succeeded, id, phase: 'Running' as const };
    assert.equal(requestedRun(pipeline({ recentRuns: [inStatus] }, { runNow: value })), undefined);
    assert.equal(requestedRun(pipeline({}, { runNow: 'now please' })), undefined);
    assert.equal(requestedRun(pipeline({})), undefined);
  });
});

describe('pipelineChanges', () => {
  const base = pipeline({ recentRuns: [succeeded] });
  const cases: {
    name: string;
    before: MLPipelineResource | undefined;
    after: MLPipelineResource | undefined;
    want: string[];
  }[] = [
    { name: 'nothing changed', before: base, after: structuredClone(base), want: [] },
    { name: 'a new pipeline', before: undefined, after: base, want: ['pipeline'] },
    { name: 'a deleted pipeline', before: base, after: undefined, want: ['pipeline'] },
    {
      name: 'suspended',
      before: base,
      after: pipeline({ recentRuns: [succeeded] }, { suspend: true }),
      want: ['pipeline'],
    },
    {
      name: 'a run appeared',
      before: base,
      after: pipeline({ recentRuns: [skipped, succeeded] }),
      want: [`run ${skipped.id}`],
    },
    {
      name: 'a run moved on',
      before: pipeline({ recentRuns: [{ ...succeeded, phase: 'Running' }] }),
      after: base,
      want: [`run ${succeeded.id}`],
    },
    {
      name: 'a run-now request',
      before: base,
      after: pipeline({ recentRuns: [succeeded] }, { runNow: '2026-12-04T15:31:07Z' }),
      want: [`run ${runNowRunId('iris', '2026-12-04T15:31:07Z')!}`],
    },
    {
      name: 'a model promoted',
      before: base,
      after: pipeline({
        recentRuns: [succeeded],
        currentModel: { version: 'v1', metrics: {}, trainedAt: 't', location: 'l' },
      }),
      want: ['model'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = pipelineChanges(c.before, c.after).map((change) =>
        change.runId === undefined ? change.kind : `${change.kind} ${change.runId}`,
      );
      assert.deepEqual(got, c.want);
    });
  }
});

describe('jobChange', () => {
  it("names a stage Job's run; a Job without the controller's labels is no change", () => {
    assert.deepEqual(jobChange(job('iris-202612041530', 'train', {})), {
      pipeline: 'iris',
      kind: 'run',
      runId: 'iris-202612041530',
    });
    assert.equal(jobChange({ metadata: { name: 'other', labels: {} } }), undefined);
  });
});

describe('runNowRefusal', () => {
  const running = { ...succeeded, phase: 'Running' as const };
  const cases: { name: string; resource: MLPipelineResource; want: RegExp | undefined }[] = [
    { name: 'idle', resource: pipeline({ recentRuns: [succeeded] }), want: undefined },
    {
      name: 'suspended',
      resource: pipeline({}, { suspend: true }),
      want: /^pipeline iris is suspended/,
    },
    {
      name: 'a request not acted on yet',
      resource: pipeline({}, { runNow: '2026-12-04T15:31:07Z' }),
      want: /controller has not started it yet/,
    },
    {
      name: 'a run going under Forbid',
      resource: pipeline({ recentRuns: [running] }),
      want: /run iris-202612041530 is still going and concurrencyPolicy is Forbid/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = runNowRefusal(c.resource);
      if (c.want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '', c.want);
    });
  }

  it('a run going under Allow is no reason', () => {
    const resource = pipeline({ recentRuns: [running] });
    resource.spec.concurrencyPolicy = 'Allow';
    assert.equal(runNowRefusal(resource), undefined);
  });
});
