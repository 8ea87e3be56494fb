import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { StageName } from '../core/ports.js';
import type { V1Pod } from '@kubernetes/client-node';

import { chainStep, jobFromTemplate, nextJob, stageJob, type ChainDecision } from './chaining.js';
import { desiredCronJobs, ownerReference } from './desired.js';
import { job, pipeline, pod, SETTINGS, type JobState } from './fixtures.js';
import {
  ANNOTATION_RUN_ID,
  ANNOTATION_SCHEDULED_AT,
  LABEL_PIPELINE,
  LABEL_RUN_ID,
  LABEL_STAGE,
} from './names.js';

const RUN = 'iris-202612041530';
const p = pipeline();

describe('nextJob', () => {
  const cases: [
    name: string,
    stage: StageName,
    succeeded: boolean,
    expected: { action: ChainDecision['action']; stage?: StageName; phase?: string },
  ][] = [
    ['collect succeeded: clean next', 'collect', true, { action: 'create', stage: 'clean' }],
    ['clean succeeded: train next', 'clean', true, { action: 'create', stage: 'train' }],
    ['train succeeded: predict next', 'train', true, { action: 'create', stage: 'predict' }],
    [
      'predict succeeded: the run succeeded',
      'predict',
      true,
      { action: 'end', phase: 'Succeeded' },
    ],
    ['collect failed: the run failed', 'collect', false, { action: 'end', phase: 'Failed' }],
    ['train failed: the run failed', 'train', false, { action: 'end', phase: 'Failed' }],
    ['predict failed: the run failed', 'predict', false, { action: 'end', phase: 'Failed' }],
  ];
  for (const [name, stage, succeeded, expected] of cases) {
    it(name, () => {
      const finished = job(p, RUN, stage, { phase: succeeded ? 'Succeeded' : 'Failed' });
      const decision = nextJob(p, SETTINGS, { job: finished, succeeded });
      assert.equal(decision.action, expected.action);
      if (decision.action === 'create') {
        assert.equal(decision.runId, RUN);
        assert.equal(decision.stage, expected.stage);
        assert.deepEqual(decision.job, stageJob(p, SETTINGS, RUN, expected.stage!));
        assert.equal(decision.job.metadata?.name, `${RUN}-${expected.stage}`);
      }
      if (decision.action === 'end') {
        assert.equal(decision.phase, expected.phase);
        assert.equal(decision.runId, RUN);
        assert.equal(decision.stage, stage);
      }
    });
  }

  it('decides the same Job twice, so the second create collides', () => {
    const finished = job(p, RUN, 'collect', { phase: 'Succeeded' });
    const first = nextJob(p, SETTINGS, { job: finished, succeeded: true });
    const again = nextJob(pipeline(), SETTINGS, {
      job: structuredClone(finished),
      succeeded: true,
    });
    assert.deepEqual(again, first);
  });

  it('continues a run while the pipeline is suspended', () => {
    const suspended = pipeline({ suspend: true });
    const finished = job(suspended, RUN, 'clean', { phase: 'Succeeded' });
    assert.equal(nextJob(suspended, SETTINGS, { job: finished, succeeded: true }).action, 'create');
  });

  const ignored: [name: string, labels: Record<string, string>][] = [
    ['no labels', {}],
    [
      'an unknown stage',
      { [LABEL_PIPELINE]: 'iris', [LABEL_STAGE]: 'deploy', [LABEL_RUN_ID]: RUN },
    ],
    [
      'another pipeline',
      { [LABEL_PIPELINE]: 'wine', [LABEL_STAGE]: 'collect', [LABEL_RUN_ID]: RUN },
    ],
  ];
  for (const [name, labels] of ignored) {
    it(`does nothing for a Job with ${name}`, () => {
      const finished = job(p, RUN, 'collect', { phase: 'Succeeded' });
      finished.metadata = { ...finished.metadata, labels };
      assert.equal(nextJob(p, SETTINGS, { job: finished, succeeded: true }).action, 'none');
    });
  }
});

describe('chainStep', () => {
  const started = '2026-12-04T15:30:01Z';
  const cases: [
    name: string,
    stage: StageName,
    jobState: JobState['phase'],
    podPhases: NonNullable<V1Pod['status']>['phase'][],
    expected: { action: ChainDecision['action']; stage?: StageName; phase?: string },
  ][] = [
    [
      'pod succeeded, Job not yet Complete: next Job',
      'collect',
      'Running',
      ['Succeeded'],
      { action: 'create', stage: 'clean' },
    ],
    [
      'retried pod succeeded, Job not yet Complete: next Job',
      'train',
      'Running',
      ['Failed', 'Succeeded'],
      { action: 'create', stage: 'predict' },
    ],
    [
      'pod failed, Job still retrying: nothing',
      'collect',
      'Running',
      ['Failed'],
      { action: 'none' },
    ],
    ['pod running: nothing', 'clean', 'Running', ['Running'], { action: 'none' }],
    ['no pod yet: nothing', 'clean', 'Pending', [], { action: 'none' }],
    [
      'Job Complete, its pods gone: next Job',
      'clean',
      'Succeeded',
      [],
      { action: 'create', stage: 'train' },
    ],
    [
      'pod failed, Job Failed: the run ends',
      'collect',
      'Failed',
      ['Failed'],
      { action: 'end', phase: 'Failed' },
    ],
    [
      'predict pod succeeded: the run ends',
      'predict',
      'Running',
      ['Succeeded'],
      { action: 'end', phase: 'Succeeded' },
    ],
  ];
  for (const [name, stage, jobState, podPhases, expected] of cases) {
    it(name, () => {
      const current = job(p, RUN, stage, { phase: jobState, startTime: started });
      const pods = podPhases.map((phase, i) => ({
        ...pod(current, 'Running', { name: `p${i}` }),
        status: { phase },
      }));
      const decision = chainStep(p, SETTINGS, current, pods);
      assert.equal(decision.action, expected.action, JSON.stringify(decision));
      if (decision.action === 'create') {
        assert.deepEqual(decision.job, stageJob(p, SETTINGS, RUN, expected.stage!));
      }
      if (decision.action === 'end') assert.equal(decision.phase, expected.phase);
    });
  }
});

describe('jobFromTemplate', () => {
  const cronJob = desiredCronJobs(p, SETTINGS)[1]!;
  const slot = new Date('2026-12-04T15:30:00Z');
  const built = jobFromTemplate(cronJob, RUN, 'clean', ownerReference(p), slot);

  it('copies the template spec as kubectl create job --from does', () => {
    const { template: cronPod, ...cronRest } = cronJob.spec!.jobTemplate.spec!;
    const { template: jobPod, ...jobRest } = built.spec!;
    assert.deepEqual(jobRest, cronRest);
    assert.deepEqual(jobPod.spec, cronPod.spec);
  });

  it('adds the run id as label and pod annotation, and the slot', () => {
    assert.equal(built.metadata?.name, 'iris-202612041530-clean');
    assert.equal(built.metadata?.namespace, 'ml');
    assert.deepEqual(built.metadata?.labels, {
      [LABEL_PIPELINE]: 'iris',
      [LABEL_STAGE]: 'clean',
      [LABEL_RUN_ID]: RUN,
    });
    assert.deepEqual(built.metadata?.annotations, {
      [ANNOTATION_RUN_ID]: RUN,
      [ANNOTATION_SCHEDULED_AT]: '2026-12-04T15:30:00.000Z',
    });
    assert.equal(built.spec?.template.metadata?.annotations?.[ANNOTATION_RUN_ID], RUN);
    assert.equal(built.spec?.template.metadata?.labels?.[LABEL_RUN_ID], RUN);
  });

  it('is owned by the MLPipeline, so deleting it deletes the Job', () => {
    assert.deepEqual(built.metadata?.ownerReferences, [ownerReference(p)]);
  });

  it('leaves the CronJob it was built from untouched', () => {
    assert.deepEqual(cronJob, desiredCronJobs(p, SETTINGS)[1]);
  });

  it('carries no slot for a manual run', () => {
    const manual = stageJob(p, SETTINGS, 'iris-manual-20261204153007-ab12', 'collect');
    assert.equal(manual.metadata?.annotations?.[ANNOTATION_SCHEDULED_AT], undefined);
    assert.equal(manual.metadata?.name, 'iris-manual-20261204153007-ab12-collect');
  });
});
