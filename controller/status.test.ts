import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { V1Job } from '@kubernetes/client-node';

import { desiredConfigMap, desiredCronJobs, type PipelineObject } from './desired.js';
import { job, pipeline, pod, SETTINGS } from './fixtures.js';
import { Reason } from './reasons.js';
import {
  buildStatus,
  statusChanged,
  storedStatus,
  type Condition,
  type MLPipelineStatus,
  type StatusInput,
} from './status.js';

const T0 = new Date('2026-12-04T15:40:00Z');
const p = pipeline({}, { generation: 7 });

function input(overrides: Partial<StatusInput> = {}, of: PipelineObject = p): StatusInput {
  return {
    pipeline: of,
    jobs: [],
    cronJobs: desiredCronJobs(of, SETTINGS),
    configMap: desiredConfigMap(of),
    previous: undefined,
    now: T0,
    ...overrides,
  };
}

const ok = (start: string, end: string) => ({
  phase: 'Succeeded' as const,
  startTime: start,
  endTime: end,
});

/** A run of the pipeline's schedule at 15:30 with the given stages done. */
function run1530(...extra: V1Job[]): V1Job[] {
  return [
    job(p, 'iris-202612041530', 'collect', ok('2026-12-04T15:30:01Z', '2026-12-04T15:30:05Z')),
    ...extra,
  ];
}

function conditionOf(status: MLPipelineStatus, type: Condition['type']): Condition {
  const found = status.conditions.find((c) => c.type === type);
  assert.ok(found, `no ${type} condition`);
  return found;
}

describe('buildStatus: runs', () => {
  it("shows a stage succeeded once its pod has, with the pod's end, before the Job is Complete", () => {
    const clean = job(p, 'iris-202612041530', 'clean', {
      phase: 'Running',
      startTime: '2026-12-04T15:30:06Z',
    });
    const pods = [pod(clean, 'Succeeded', { finishedAt: '2026-12-04T15:30:09Z' })];
    const before = buildStatus(input({ jobs: run1530(clean), pods }));
    assert.deepEqual(before.recentRuns[0]?.stages[1], {
      stage: 'clean',
      phase: 'Succeeded',
      jobName: 'iris-202612041530-clean',
      startTime: '2026-12-04T15:30:06.000Z',
      completionTime: '2026-12-04T15:30:09.000Z',
    });

    // The Job's own completion a second later changes nothing, so status is not written again.
    const complete = job(
      p,
      'iris-202612041530',
      'clean',
      ok('2026-12-04T15:30:06Z', '2026-12-04T15:30:10Z'),
    );
    const after = buildStatus(input({ jobs: run1530(complete), pods, previous: before }));
    assert.equal(statusChanged(before, after), false);
  });

  it('shows a run in progress stage by stage', () => {
    const jobs = run1530(
      job(p, 'iris-202612041530', 'clean', { phase: 'Running', startTime: '2026-12-04T15:30:06Z' }),
    );
    const status = buildStatus(input({ jobs }));
    assert.deepEqual(status.recentRuns, [
      {
        id: 'iris-202612041530',
        phase: 'Running',
        scheduledAt: '2026-12-04T15:30:00.000Z',
        startTime: '2026-12-04T15:30:01.000Z',
        stages: [
          {
            stage: 'collect',
            phase: 'Succeeded',
            jobName: 'iris-202612041530-collect',
            startTime: '2026-12-04T15:30:01.000Z',
            completionTime: '2026-12-04T15:30:05.000Z',
          },
          {
            stage: 'clean',
            phase: 'Running',
            jobName: 'iris-202612041530-clean',
            startTime: '2026-12-04T15:30:06.000Z',
          },
          { stage: 'train', phase: 'Pending' },
          { stage: 'predict', phase: 'Pending' },
        ],
      },
    ]);
    assert.deepEqual(status.lastRun, { id: 'iris-202612041530', phase: 'Running' });
  });

  it("fails the run at the failed stage, with the pod's reason, and skips the rest", () => {
    const jobs = run1530(
      job(p, 'iris-202612041530', 'clean', {
        phase: 'Failed',
        startTime: '2026-12-04T15:30:06Z',
        endTime: '2026-12-04T15:31:00Z',
        failure: {
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        },
      }),
    );
    const podFailures = { 'iris-202612041530-clean': 'OOMKilled (exit code 137)' };
    const status = buildStatus(input({ jobs, podFailures }));
    const [run] = status.recentRuns;
    assert.equal(run?.phase, 'Failed');
    assert.equal(run?.completionTime, '2026-12-04T15:31:00.000Z');
    assert.deepEqual(run?.stages[1], {
      stage: 'clean',
      phase: 'Failed',
      jobName: 'iris-202612041530-clean',
      startTime: '2026-12-04T15:30:06.000Z',
      completionTime: '2026-12-04T15:31:00.000Z',
      message:
        'BackoffLimitExceeded: Job has reached the specified backoff limit; pod: OOMKilled (exit code 137)',
    });
    assert.deepEqual(
      run?.stages.slice(2).map((s) => s.phase),
      ['Skipped', 'Skipped'],
    );
    const degraded = conditionOf(status, 'Degraded');
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, Reason.RunFailed);
    assert.match(degraded.message, /stage clean failed: .*OOMKilled \(exit code 137\)/);
  });

  it('ends a run that went through predict', () => {
    const id = 'iris-202612041530';
    const jobs = [
      job(p, id, 'collect', ok('2026-12-04T15:30:01Z', '2026-12-04T15:30:05Z')),
      job(p, id, 'clean', ok('2026-12-04T15:30:06Z', '2026-12-04T15:30:08Z')),
      job(p, id, 'train', ok('2026-12-04T15:30:09Z', '2026-12-04T15:30:20Z')),
      job(p, id, 'predict', ok('2026-12-04T15:30:21Z', '2026-12-04T15:30:25Z')),
    ];
    const [run] = buildStatus(input({ jobs })).recentRuns;
    assert.equal(run?.phase, 'Succeeded');
    assert.equal(run?.startTime, '2026-12-04T15:30:01.000Z');
    assert.equal(run?.completionTime, '2026-12-04T15:30:25.000Z');
  });

  it("lists a stage's own run from that stage on", () => {
    const jobs = [
      job(p, 'iris-train-202612040300', 'train', {
        phase: 'Running',
        startTime: '2026-12-04T03:00:02Z',
      }),
    ];
    const [run] = buildStatus(input({ jobs })).recentRuns;
    assert.deepEqual(
      run?.stages.map((s) => s.stage),
      ['train', 'predict'],
    );
  });

  it('orders runs newest first, keeps historyLimit, and ignores other pipelines', () => {
    const small = pipeline({ historyLimit: 2 });
    const failed = {
      phase: 'Failed' as const,
      startTime: '2026-12-04T15:30:01Z',
      endTime: '2026-12-04T15:30:05Z',
    };
    const jobs = ['202612041530', '202612041534', '202612041532'].map((stamp) =>
      job(small, `iris-${stamp}`, 'collect', failed),
    );
    const stranger = job(pipeline({}, { name: 'wine' }), 'wine-202612041536', 'collect', {
      phase: 'Running',
    });
    const status = buildStatus(input({ jobs: [...jobs, stranger] }, small));
    assert.deepEqual(
      status.recentRuns.map((r) => r.id),
      ['iris-202612041534', 'iris-202612041532'],
    );
  });

  it("shows why a stage's pod cannot start, and is Degraded until it can", () => {
    const collect = job(p, 'iris-202612041530', 'collect', {
      phase: 'Running',
      startTime: '2026-12-04T15:30:01Z',
    });
    const waiting = pod(collect, 'Pending');
    waiting.status!.containerStatuses = [
      {
        name: 'stage',
        image: 'mlpipeline:test',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          waiting: { reason: 'CreateContainerConfigError', message: 'secret "rds-typo" not found' },
        },
      },
    ];
    const status = buildStatus(input({ jobs: [collect], pods: [waiting] }));
    const stage = status.recentRuns[0]?.stages[0];
    assert.equal(stage?.waiting, 'CreateContainerConfigError');
    assert.equal(
      stage?.message,
      'cannot start: CreateContainerConfigError: secret "rds-typo" not found',
    );
    const degraded = conditionOf(status, 'Degraded');
    assert.equal(degraded.status, 'True');
    assert.equal(degraded.reason, Reason.StageCannotStart);
    assert.match(degraded.message, /run iris-202612041530: stage collect cannot start: .*rds-typo/);

    // A pod on its way (ContainerCreating) is not stuck.
    waiting.status!.containerStatuses[0]!.state = { waiting: { reason: 'ContainerCreating' } };
    const starting = buildStatus(input({ jobs: [collect], pods: [waiting] }));
    assert.equal(starting.recentRuns[0]?.stages[0]?.waiting, undefined);
    assert.equal(conditionOf(starting, 'Degraded').status, 'False');
  });

  it('keeps a run still going however many slots were skipped after it', () => {
    const small = pipeline({ historyLimit: 2 });
    const blocked = job(small, 'iris-202612041530', 'collect', { phase: 'Running' });
    const skippedSlots = ['202612041532', '202612041534', '202612041536'].map((stamp, i) => ({
      runId: `iris-${stamp}`,
      scheduledAt: new Date(Date.UTC(2026, 11, 4, 15, 32 + 2 * i)),
      reason: 'run iris-202612041530 is still running and concurrencyPolicy is Forbid',
      count: 1,
    }));
    const status = buildStatus(input({ jobs: [blocked], skippedSlots }, small));
    assert.deepEqual(
      status.recentRuns.map((r) => [r.id, r.phase]),
      [
        ['iris-202612041536', 'Skipped'],
        ['iris-202612041530', 'Running'],
      ],
    );
    assert.deepEqual(status.lastRun, { id: 'iris-202612041530', phase: 'Running' });
  });

  it('records skipped slots as Skipped runs and keeps them on later passes', () => {
    const skippedSlots = [
      {
        runId: 'iris-202612041532',
        scheduledAt: new Date('2026-12-04T15:32:00Z'),
        reason: 'run iris-202612041530 is still running and concurrencyPolicy is Forbid',
        count: 1,
      },
    ];
    const first = buildStatus(input({ jobs: run1530(), skippedSlots }));
    const second = buildStatus(input({ jobs: run1530(), previous: first }));
    for (const status of [first, second]) {
      assert.deepEqual(
        status.recentRuns.map((r) => [r.id, r.phase]),
        [
          ['iris-202612041532', 'Skipped'],
          ['iris-202612041530', 'Running'],
        ],
      );
      assert.match(status.recentRuns[0]?.message ?? '', /concurrencyPolicy is Forbid/);
      assert.deepEqual(status.lastRun, { id: 'iris-202612041530', phase: 'Running' });
    }
  });
  it('shows a replaced run as Replaced, with its stopped stage, keeps it, and is not Degraded by it', () => {
    const clean = job(p, 'iris-202612041530', 'clean', {
      phase: 'Running',
      startTime: '2026-12-04T15:30:06Z',
    });
    const running = buildStatus(input({ jobs: run1530(clean) }));
    const replacedRuns = [{ runId: 'iris-202612041530', by: 'iris-202612041532', at: T0 }];
    // The replaced run's Jobs are gone; the replacing run has started.
    const next = [job(p, 'iris-202612041532', 'collect', { phase: 'Running' })];
    const first = buildStatus(input({ jobs: next, previous: running, replacedRuns }));
    const second = buildStatus(input({ jobs: next, previous: first }));
    for (const status of [first, second]) {
      assert.deepEqual(
        status.recentRuns.map((r) => [r.id, r.phase]),
        [
          ['iris-202612041532', 'Running'],
          ['iris-202612041530', 'Replaced'],
        ],
      );
      const replaced = status.recentRuns[1]!;
      assert.equal(
        replaced.message,
        'replaced by run iris-202612041532 (concurrencyPolicy Replace)',
      );
      assert.equal(replaced.completionTime, T0.toISOString());
      assert.deepEqual(
        replaced.stages.map((s) => [s.stage, s.phase]),
        [
          ['collect', 'Succeeded'],
          ['clean', 'Failed'],
          ['train', 'Skipped'],
          ['predict', 'Skipped'],
        ],
      );
      assert.equal(replaced.stages[1]?.message, 'stopped: the run was replaced');
      assert.equal(conditionOf(status, 'Degraded').status, 'False');
    }
  });
});

describe('buildStatus: conditions', () => {
  it('stamps every condition with the generation', () => {
    const status = buildStatus(input());
    assert.equal(status.observedGeneration, 7);
    assert.deepEqual(
      status.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
      [
        ['Ready', 'True', Reason.CronJobsReady, 7],
        ['Suspended', 'False', Reason.Scheduling, 7],
        ['Degraded', 'False', Reason.NoFailures, 7],
        ['ModelPromoted', 'False', Reason.NoModelYet, 7],
      ],
    );
  });

  it('keeps lastTransitionTime when nothing flips, and writes nothing', () => {
    const first = buildStatus(input({ jobs: run1530() }));
    const later = new Date(T0.getTime() + 3_600_000);
    const second = buildStatus(input({ jobs: run1530(), previous: first, now: later }));
    assert.deepEqual(
      second.conditions.map((c) => c.lastTransitionTime),
      first.conditions.map(() => T0.toISOString()),
    );
    assert.equal(statusChanged(first, second), false);
  });

  it('moves lastTransitionTime of the condition that flips, and only that one', () => {
    const first = buildStatus(input());
    const later = new Date(T0.getTime() + 60_000);
    const suspended = pipeline({ suspend: true }, { generation: 8 });
    const second = buildStatus(input({ previous: first, now: later }, suspended));
    const moved = second.conditions.filter((c) => c.lastTransitionTime === later.toISOString());
    assert.deepEqual(
      moved.map((c) => [c.type, c.status, c.reason]),
      [['Suspended', 'True', Reason.Suspended]],
    );
    assert.ok(second.conditions.every((c) => c.observedGeneration === 8));
    assert.equal(second.nextScheduleTime, undefined);
  });

  const readiness: [
    name: string,
    change: (i: StatusInput) => void,
    reason: Reason,
    degraded: boolean,
  ][] = [
    ['a CronJob missing', (i) => (i.cronJobs = i.cronJobs.slice(1)), Reason.CronJobsPending, false],
    ['the ConfigMap missing', (i) => (i.configMap = undefined), Reason.CronJobsPending, false],
    [
      'a CronJob of someone else',
      (i) => (i.cronJobs[2]!.metadata!.ownerReferences = []),
      Reason.ObjectNotOurs,
      true,
    ],
    [
      'a spec a cluster cannot run',
      (i) => (i.specProblems = [{ path: 'spec.modelStore.dir', message: 'single-container only' }]),
      Reason.InvalidSpec,
      true,
    ],
  ];
  for (const [name, change, reason, degraded] of readiness) {
    it(`is not Ready with ${name}`, () => {
      const i = input();
      change(i);
      const status = buildStatus(i);
      const ready = conditionOf(status, 'Ready');
      assert.deepEqual([ready.status, ready.reason], ['False', reason]);
      assert.equal(conditionOf(status, 'Degraded').status, degraded ? 'True' : 'False');
      if (reason === Reason.ObjectNotOurs) assert.match(ready.message, /CronJob iris-train/);
    });
  }
});

describe('buildStatus: model and schedule', () => {
  const model = {
    version: '20261204-153020-iris-202612041530',
    metrics: {
      accuracy: 0.966,
      macroF1: 0.96,
      confusionMatrix: [
        [10, 0],
        [1, 9],
      ],
    },
    trainedAt: new Date('2026-12-04T15:30:20Z'),
    location: 's3://models/iris/models/20261204-153020-iris-202612041530/model.json',
  };

  it('shows the current model with figures only, and ModelPromoted', () => {
    const status = buildStatus(input({ currentModel: model }));
    assert.deepEqual(status.currentModel, {
      version: model.version,
      metrics: { accuracy: 0.966, macroF1: 0.96 },
      accuracy: 0.966,
      trainedAt: '2026-12-04T15:30:20.000Z',
      location: model.location,
    });
    assert.equal(conditionOf(status, 'ModelPromoted').status, 'True');
  });

  const carried: [name: string, currentModel: StatusInput['currentModel'], kept: boolean][] = [
    ['an unread store keeps the model', undefined, true],
    ['a store without a pointer drops it', null, false],
  ];
  for (const [name, currentModel, kept] of carried) {
    it(name, () => {
      const first = buildStatus(input({ currentModel: model }));
      const second = buildStatus(input({ currentModel, previous: first }));
      assert.equal(second.currentModel?.version, kept ? model.version : undefined);
    });
  }

  it('keeps the planner memory and reports the newest slot', () => {
    const first = buildStatus(
      input({
        lastScheduleTimes: {
          pipeline: new Date('2026-12-04T15:38:00Z'),
          train: new Date('2026-12-04T03:00:00Z'),
        },
        nextScheduleTime: new Date('2026-12-04T15:40:00Z'),
        lastPredictions: {
          runId: 'iris-202612041530',
          rows: 150,
          time: '2026-12-04T15:30:25Z',
          table: 'predictions',
          modelVersion: 'v20261204-153012-abcd',
        },
      }),
    );
    const second = buildStatus(input({ previous: first }));
    for (const status of [first, second]) {
      assert.equal(status.lastScheduleTime, '2026-12-04T15:38:00.000Z');
      assert.equal(status.nextScheduleTime, '2026-12-04T15:40:00.000Z');
      assert.deepEqual(status.lastScheduleTimes, {
        pipeline: '2026-12-04T15:38:00.000Z',
        train: '2026-12-04T03:00:00.000Z',
      });
      assert.deepEqual(status.lastPredictions, {
        runId: 'iris-202612041530',
        rows: 150,
        time: '2026-12-04T15:30:25.000Z',
        table: 'predictions',
        modelVersion: 'v20261204-153012-abcd',
      });
    }
  });
});

describe('statusChanged', () => {
  const status = buildStatus(input({ jobs: run1530() }));
  const cases: [name: string, other: MLPipelineStatus, changed: boolean][] = [
    ['the same status', structuredClone(status), false],
    [
      'keys in another order',
      Object.fromEntries(Object.entries(status).reverse()) as unknown as MLPipelineStatus,
      false,
    ],
    ['another generation', { ...status, observedGeneration: 8 }, true],
    ['one run fewer', { ...status, recentRuns: [] }, true],
  ];
  for (const [name, other, changed] of cases) {
    it(name, () => assert.equal(statusChanged(status, other), changed));
  }
});

describe('storedStatus: a status written by someone else', () => {
  it('builds on a status with only some fields, of any shape, instead of failing', () => {
    const raw = {
      lastScheduleTimes: { pipeline: '2026-12-04T15:30:00Z', predict: 'not a time', x: 5 },
      conditions: 'Ready',
      recentRuns: [{ id: 'iris-202612041530', phase: 'Succeeded' }, 'junk', { phase: 'Failed' }],
    };
    const previous = storedStatus(raw);
    assert.deepEqual(previous?.conditions, []);
    assert.deepEqual(previous?.lastScheduleTimes, { pipeline: '2026-12-04T15:30:00Z' });
    assert.deepEqual(previous?.recentRuns, [
      { id: 'iris-202612041530', phase: 'Succeeded', stages: [] },
    ]);
    const status = buildStatus(input({ previous }));
    assert.equal(conditionOf(status, 'Ready').status, 'True');
    assert.equal(status.lastScheduleTimes?.pipeline, '2026-12-04T15:30:00Z');
  });

  it('is undefined for no status and for one that is not an object', () => {
    assert.equal(storedStatus(undefined), undefined);
    assert.equal(storedStatus('Ready'), undefined);
    assert.equal(storedStatus([]), undefined);
  });
});
