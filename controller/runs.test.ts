import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { V1Job, V1Pod } from '@kubernetes/client-node';

import type { StagePhase } from '../core/ports.js';
import { job, pipeline, pod } from './fixtures.js';
import {
  activeRunIds,
  jobPhase,
  jobPods,
  jobsToPrune,
  observedRuns,
  podFinishedAt,
} from './runs.js';

const p = pipeline();
const done = {
  phase: 'Succeeded' as const,
  startTime: '2026-12-04T15:30:01Z',
  endTime: '2026-12-04T15:30:05Z',
};

describe('jobPhase', () => {
  const cases: [name: string, status: V1Job['status'], phase: StagePhase][] = [
    ['new', undefined, 'Pending'],
    ['started', { startTime: new Date(), active: 1 }, 'Running'],
    ['complete', { conditions: [{ type: 'Complete', status: 'True' }] }, 'Succeeded'],
    [
      'success criteria met, pods still stopping',
      { conditions: [{ type: 'SuccessCriteriaMet', status: 'True' }] },
      'Succeeded',
    ],
    ['failed', { conditions: [{ type: 'Failed', status: 'True' }] }, 'Failed'],
    [
      'failure target, pods still stopping',
      { conditions: [{ type: 'FailureTarget', status: 'True' }] },
      'Failed',
    ],
    [
      'a condition that is False',
      { startTime: new Date(), conditions: [{ type: 'Failed', status: 'False' }] },
      'Running',
    ],
  ];
  for (const [name, status, phase] of cases) {
    it(name, () => assert.equal(jobPhase({ status }), phase));
  }
});

describe("jobPhase with the Job's pods", () => {
  const running = job(p, 'iris-202612041530', 'collect', {
    phase: 'Running',
    startTime: '2026-12-04T15:30:01Z',
  });
  const failedJob = job(p, 'iris-202612041530', 'collect', { phase: 'Failed' });
  const cases: [name: string, of: V1Job, pods: V1Pod['status'][], phase: StagePhase][] = [
    ['a pod succeeded, the Job not yet Complete', running, [{ phase: 'Succeeded' }], 'Succeeded'],
    [
      'the first pod failed, its retry succeeded',
      running,
      [{ phase: 'Failed' }, { phase: 'Succeeded' }],
      'Succeeded',
    ],
    ['a pod failed, the Job still retrying', running, [{ phase: 'Failed' }], 'Running'],
    ['a pod still running', running, [{ phase: 'Running' }], 'Running'],
    ['the Job failed: its condition decides', failedJob, [{ phase: 'Succeeded' }], 'Failed'],
    [
      'a Job of two completions is not done at its first pod',
      { ...running, spec: { ...running.spec!, completions: 2 } },
      [{ phase: 'Succeeded' }],
      'Running',
    ],
  ];
  for (const [name, of, statuses, phase] of cases) {
    it(name, () => {
      const pods = statuses.map((status, i) => ({
        ...pod(of, 'Running', { name: `p${i}` }),
        status,
      }));
      assert.equal(jobPhase(of, pods), phase);
    });
  }
});

describe('jobPods', () => {
  const current = job(p, 'iris-202612041530', 'collect', { phase: 'Running' });
  current.metadata = { ...current.metadata, uid: 'job-now' };

  it("finds a Job's pods by the job-name label", () => {
    const mine = pod(current, 'Succeeded');
    const other = pod(job(p, 'iris-202612041530', 'clean', { phase: 'Running' }), 'Succeeded');
    assert.deepEqual(jobPods([mine, other])(current), [mine]);
  });

  it('leaves out the pods of an earlier Job of the same name', () => {
    const earlier = pod(current, 'Succeeded', { ownerUid: 'job-before', name: 'old' });
    assert.deepEqual(jobPods([earlier])(current), []);
    assert.equal(jobPhase(current, jobPods([earlier])(current)), 'Running');
  });

  it('reads when the container ended', () => {
    const done = pod(current, 'Succeeded', { finishedAt: '2026-12-04T15:30:05Z' });
    assert.equal(podFinishedAt(done), '2026-12-04T15:30:05.000Z');
  });
});

describe('observedRuns', () => {
  const jobs = [
    ...(['collect', 'clean', 'train', 'predict'] as const).map((s) =>
      job(p, 'iris-202612041530', s, done),
    ),
    job(p, 'iris-202612041532', 'collect', done),
    job(p, 'iris-202612041534', 'collect', { phase: 'Running', startTime: '2026-12-04T15:34:01Z' }),
    job(p, 'iris-202612041536', 'collect', {
      phase: 'Failed',
      failure: { reason: 'DeadlineExceeded', message: '' },
    }),
  ];
  const runs = observedRuns('iris', jobs);

  it('groups Jobs into runs, newest first, with their phase', () => {
    assert.deepEqual(
      runs.map((r) => [r.runId, r.phase]),
      [
        ['iris-202612041536', 'Failed'],
        ['iris-202612041534', 'Running'],
        ['iris-202612041532', 'Running'],
        ['iris-202612041530', 'Succeeded'],
      ],
    );
  });

  it('ends a run when its predict pod succeeded, before the Job says so', () => {
    const running = { phase: 'Running' as const, startTime: '2026-12-04T15:40:01Z' };
    const stages = (['collect', 'clean', 'train'] as const).map((s) =>
      job(p, 'iris-202612041540', s, done),
    );
    const predict = job(p, 'iris-202612041540', 'predict', running);
    const all = [...stages, predict];
    assert.equal(observedRuns('iris', all)[0]?.phase, 'Running');
    const pods = jobPods([pod(predict, 'Succeeded')]);
    assert.equal(observedRuns('iris', all, pods)[0]?.phase, 'Succeeded');
  });

  it('counts a run between two stages as active', () => {
    assert.deepEqual(activeRunIds(runs), ['iris-202612041534', 'iris-202612041532']);
  });

  const oldest = Array<string>(4).fill('iris-202612041530');
  const prunes: [limit: number, pruned: string[]][] = [
    [4, []],
    [3, oldest],
    [1, oldest],
    [0, ['iris-202612041536', ...oldest]],
  ];
  for (const [limit, pruned] of prunes) {
    it(`prunes whole finished runs beyond ${limit}, never an active one`, () => {
      assert.deepEqual(
        jobsToPrune(runs, limit).map((j) => j.metadata?.labels?.['mlpipeline.dev/run-id']),
        pruned,
      );
    });
  }
});
