import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { V1Job } from '@kubernetes/client-node';

import type { StagePhase } from '../core/ports.js';
import { job, pipeline } from './fixtures.js';
import { activeRunIds, jobPhase, jobsToPrune, observedRuns } from './runs.js';

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
