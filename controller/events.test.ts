import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { V1Job, V1Pod } from '@kubernetes/client-node';

import { desiredConfigMap, desiredCronJobs, type PipelineObject } from './desired.js';
import { transitionEvents } from './events.js';
import { job, pipeline, pod, SETTINGS } from './fixtures.js';
import { Reason } from './reasons.js';
import { buildStatus, type MLPipelineStatus, type StatusInput } from './status.js';

const ID = 'iris-202612041530';
const NOW = new Date('2026-12-04T15:40:00Z');
const p = pipeline();
const done = {
  phase: 'Succeeded' as const,
  startTime: '2026-12-04T15:30:01Z',
  endTime: '2026-12-04T15:30:05Z',
};
const running = { phase: 'Running' as const, startTime: '2026-12-04T15:30:06Z' };
const failed = {
  phase: 'Failed' as const,
  startTime: '2026-12-04T15:30:06Z',
  endTime: '2026-12-04T15:31:00Z',
  failure: {
    reason: 'BackoffLimitExceeded',
    message: 'Job has reached the specified backoff limit',
  },
};

function status(
  jobs: V1Job[],
  extra: Partial<StatusInput> = {},
  of: PipelineObject = p,
): MLPipelineStatus {
  return buildStatus({
    pipeline: of,
    jobs,
    cronJobs: desiredCronJobs(of, SETTINGS),
    configMap: desiredConfigMap(of),
    previous: undefined,
    now: NOW,
    ...extra,
  });
}

/** A pod of job whose image cannot be pulled. */
function stuckPod(of: V1Job): V1Pod {
  const stuck = pod(of, 'Pending');
  stuck.status!.containerStatuses = [
    {
      name: 'stage',
      image: 'mlpipeline:missing',
      imageID: '',
      ready: false,
      restartCount: 0,
      state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } },
    },
  ];
  return stuck;
}

const model = (version: string) => ({
  version,
  metrics: { accuracy: 0.97 },
  trainedAt: '2026-12-04T15:30:20Z',
  location: `s3://models/iris/models/${version}/model.json`,
});

describe('transitionEvents', () => {
  const collectRunning = status([job(p, ID, 'collect', running)]);
  const collectDone = status([job(p, ID, 'collect', done)]);
  const cleanFailed = status([job(p, ID, 'collect', done), job(p, ID, 'clean', failed)], {
    podFailures: { [`${ID}-clean`]: 'Error (exit code 1)' },
  });
  const allDone = status(
    (['collect', 'clean', 'train', 'predict'] as const).map((stage) => job(p, ID, stage, done)),
  );
  const predictDone = status(
    (['collect', 'clean', 'train', 'predict'] as const).map((stage) => job(p, ID, stage, done)),
    { currentModel: model('v2') },
  );

  const cases: [
    name: string,
    before: MLPipelineStatus | undefined,
    after: MLPipelineStatus,
    expected: [type: string, reason: Reason, message: RegExp][],
  ][] = [
    ['nothing changed', collectDone, structuredClone(collectDone), []],
    [
      'a run started',
      status([]),
      collectRunning,
      [['Normal', Reason.RunStarted, /run iris-202612041530 started at stage collect/]],
    ],
    [
      'a stage succeeded',
      collectRunning,
      collectDone,
      [
        [
          'Normal',
          Reason.StageSucceeded,
          /stage collect succeeded \(Job iris-202612041530-collect\)/,
        ],
      ],
    ],
    [
      'a stage failed, ending the run',
      collectDone,
      cleanFailed,
      [
        ['Warning', Reason.StageFailed, /stage clean failed: .*Error \(exit code 1\)/],
        ['Warning', Reason.RunFailed, /run iris-202612041530 failed: stage clean failed/],
      ],
    ],
    [
      'predict ended the run',
      status(
        (['collect', 'clean', 'train'] as const)
          .map((stage) => job(p, ID, stage, done))
          .concat(job(p, ID, 'predict', running)),
      ),
      allDone,
      [
        ['Normal', Reason.StageSucceeded, /stage predict succeeded/],
        ['Normal', Reason.RunSucceeded, /run iris-202612041530 succeeded/],
      ],
    ],
    [
      'a model promoted',
      allDone,
      predictDone,
      [['Normal', Reason.ModelPromoted, /model version v2 with accuracy 0.97 promoted/]],
    ],
    [
      'suspended',
      status([]),
      status([], {}, pipeline({ suspend: true })),
      [['Normal', Reason.Suspended, /spec.suspend is true/]],
    ],
    [
      'resumed',
      status([], {}, pipeline({ suspend: true })),
      status([]),
      [['Normal', Reason.Resumed, /runs start on schedule again/]],
    ],
    [
      'a slot skipped',
      collectRunning,
      status([job(p, ID, 'collect', running)], {
        skippedSlots: [
          {
            runId: 'iris-202612041532',
            scheduledAt: new Date('2026-12-04T15:32:00Z'),
            reason: 'run iris-202612041530 is still running and concurrencyPolicy is Forbid',
            count: 1,
          },
        ],
      }),
      [['Warning', Reason.RunSkipped, /iris-202612041532 skipped: .*Forbid/]],
    ],
    [
      'a run replaced by a newer one: the run says so, its stopped stage does not blame itself',
      status([job(p, ID, 'collect', done), job(p, ID, 'clean', running)]),
      status([job(p, 'iris-202612041532', 'collect', running)], {
        previous: status([job(p, ID, 'collect', done), job(p, ID, 'clean', running)]),
        replacedRuns: [{ runId: ID, by: 'iris-202612041532', at: NOW }],
      }),
      [
        [
          'Normal',
          Reason.RunReplaced,
          /run iris-202612041530 stopped: replaced by run iris-202612041532 \(concurrencyPolicy Replace\)/,
        ],
        ['Normal', Reason.RunStarted, /run iris-202612041532 started at stage collect/],
      ],
    ],
    [
      "a stage's pod cannot start",
      collectRunning,
      status([job(p, ID, 'collect', running)], {
        pods: [stuckPod(job(p, ID, 'collect', running))],
      }),
      [['Warning', Reason.StageCannotStart, /stage collect cannot start: ImagePullBackOff/]],
    ],
    [
      'a CronJob name taken by someone else',
      status([]),
      status([], {
        cronJobs: desiredCronJobs(p, SETTINGS).map((c) => ({
          ...c,
          metadata: { name: c.metadata?.name },
        })),
      }),
      [['Warning', Reason.ObjectNotOurs, /CronJob iris-collect.*is not owned by this MLPipeline/]],
    ],
  ];

  for (const [name, before, after, expected] of cases) {
    it(name, () => {
      const events = transitionEvents(before, after);
      assert.deepEqual(
        events.map((e) => [e.type, e.reason]),
        expected.map(([type, reason]) => [type, reason]),
      );
      events.forEach((event, i) => assert.match(event.message, expected[i]![2]));
    });
  }

  it('names the run and the stage each event is about, for its log line', () => {
    const events = transitionEvents(undefined, allDone);
    assert.ok(events.every((e) => e.run === ID));
    assert.deepEqual(
      events.filter((e) => e.reason === Reason.StageSucceeded).map((e) => e.stage),
      ['collect', 'clean', 'train', 'predict'],
    );
    assert.equal(events.find((e) => e.reason === Reason.RunSucceeded)?.stage, undefined);
  });

  it('reports a whole run seen for the first time in order', () => {
    assert.deepEqual(
      transitionEvents(undefined, allDone).map((e) => e.reason),
      [
        Reason.RunStarted,
        Reason.StageSucceeded,
        Reason.StageSucceeded,
        Reason.StageSucceeded,
        Reason.StageSucceeded,
        Reason.RunSucceeded,
      ],
    );
  });
});
