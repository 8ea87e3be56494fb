import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { StageName } from '../ports.js';
import {
  STAGE_ORDER,
  isStageName,
  nextStage,
  scheduleKeys,
  stagesFrom,
  startStageOf,
  type ScheduleSource,
  type ScheduleSpec,
} from './stages.js';

describe('the stage graph', () => {
  it('runs collect, clean, train, predict', () => {
    assert.deepEqual(STAGE_ORDER, ['collect', 'clean', 'train', 'predict']);
  });

  const cases: [stage: StageName, next: StageName | undefined, from: StageName[]][] = [
    ['collect', 'clean', ['collect', 'clean', 'train', 'predict']],
    ['clean', 'train', ['clean', 'train', 'predict']],
    ['train', 'predict', ['train', 'predict']],
    ['predict', undefined, ['predict']],
  ];
  for (const [stage, next, from] of cases) {
    it(`${stage}: next ${next ?? 'none'}, runs ${from.join(' ')}`, () => {
      assert.equal(nextStage(stage), next);
      assert.deepEqual(stagesFrom(stage), from);
    });
  }

  it('refuses a stage it does not know', () => {
    assert.throws(() => nextStage('deploy' as StageName), /unknown stage "deploy"/);
    assert.throws(() => stagesFrom('' as StageName), RangeError);
  });

  it('tells stage names from other strings', () => {
    assert.equal(isStageName('train'), true);
    assert.equal(isStageName('Train'), false);
    assert.equal(isStageName('pipeline'), false);
  });

  it('starts a schedule key at its stage', () => {
    assert.equal(startStageOf('pipeline'), 'collect');
    assert.equal(startStageOf('predict'), 'predict');
  });
});

describe('scheduleKeys', () => {
  const cases: [name: string, spec: ScheduleSpec, sources: ScheduleSource[]][] = [
    [
      'the pipeline schedule alone, in UTC by default',
      { schedule: '*/2 * * * *' },
      [{ key: 'pipeline', startStage: 'collect', schedule: '*/2 * * * *', timeZone: 'Etc/UTC' }],
    ],
    [
      'stage schedules in stage order, in the pipeline time zone',
      {
        schedule: '0 * * * *',
        timeZone: 'Europe/Berlin',
        stages: {
          predict: { schedule: '*/2 * * * *' },
          clean: {},
          train: { schedule: '0 3 * * *' },
        },
      },
      [
        {
          key: 'pipeline',
          startStage: 'collect',
          schedule: '0 * * * *',
          timeZone: 'Europe/Berlin',
        },
        { key: 'train', startStage: 'train', schedule: '0 3 * * *', timeZone: 'Europe/Berlin' },
        {
          key: 'predict',
          startStage: 'predict',
          schedule: '*/2 * * * *',
          timeZone: 'Europe/Berlin',
        },
      ],
    ],
    [
      'a collect schedule of its own beside the pipeline one',
      { schedule: '0 0 * * *', stages: { collect: { schedule: '0 12 * * *' } } },
      [
        { key: 'pipeline', startStage: 'collect', schedule: '0 0 * * *', timeZone: 'Etc/UTC' },
        { key: 'collect', startStage: 'collect', schedule: '0 12 * * *', timeZone: 'Etc/UTC' },
      ],
    ],
  ];
  for (const [name, spec, sources] of cases) {
    it(name, () => assert.deepEqual(scheduleKeys(spec), sources));
  }
});
