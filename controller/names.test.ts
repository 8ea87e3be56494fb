import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { STAGES, type StageName } from '../core/ports.js';
import { parseRunId, scheduledRunId } from '../core/schedule/index.js';
import {
  configMapName,
  cronJobName,
  jobName,
  MAX_CRONJOB_NAME_LENGTH,
  MAX_JOB_NAME_LENGTH,
  runNowRunId,
} from './names.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LONGEST = 'a234567890b234567890c234567890d234567890';
const SLOT = new Date('2026-12-04T15:30:00Z');

describe('cronJobName', () => {
  const cases: [name: string, pipeline: string, stage: StageName, expected: string | RegExp][] = [
    ['a short name as is', 'iris', 'collect', 'iris-collect'],
    ['the longest CRD name as is', LONGEST, 'predict', `${LONGEST}-predict`],
    [
      'a longer name with a hash',
      `${LONGEST}${LONGEST}`,
      'train',
      /^a234567890b[-a-z0-9]+-[0-9a-f]{8}$/,
    ],
  ];
  for (const [name, pipeline, stage, expected] of cases) {
    it(name, () => {
      const result = cronJobName(pipeline, stage);
      if (typeof expected === 'string') assert.equal(result, expected);
      else assert.match(result, expected);
      assert.ok(result.length <= MAX_CRONJOB_NAME_LENGTH, `${result} is ${result.length} long`);
      assert.match(result, DNS_LABEL);
      assert.equal(cronJobName(pipeline, stage), result, 'same inputs, same name');
    });
  }

  it('keeps two long names that share their start apart', () => {
    const a = cronJobName(`${LONGEST}${LONGEST}x`, 'collect');
    const b = cronJobName(`${LONGEST}${LONGEST}y`, 'collect');
    assert.notEqual(a, b);
  });
});

describe('jobName', () => {
  const cases: [name: string, runId: string, stage: StageName, expected: string | RegExp][] = [
    ['a pipeline run', 'iris-202612041530', 'collect', 'iris-202612041530-collect'],
    [
      'a stage-scheduled run',
      'iris-predict-202612041530',
      'predict',
      'iris-predict-202612041530-predict',
    ],
    [
      'the longest run id, shortened with a hash',
      scheduledRunId(LONGEST, 'predict', SLOT),
      'predict',
      /^a234567890b234567890c234567890d234567890-predi-[0-9a-f]{8}-predict$/,
    ],
  ];
  for (const [name, runId, stage, expected] of cases) {
    it(name, () => {
      const result = jobName(runId, stage);
      if (typeof expected === 'string') assert.equal(result, expected);
      else assert.match(result, expected);
      assert.ok(result.length <= MAX_JOB_NAME_LENGTH);
      assert.match(result, DNS_LABEL);
    });
  }

  it('gives every stage of every long run id its own name within 63 characters', () => {
    const names = new Set<string>();
    for (const minute of [0, 1, 2]) {
      const runId = scheduledRunId(LONGEST, 'pipeline', new Date(SLOT.getTime() + minute * 60_000));
      for (const stage of STAGES) {
        const name = jobName(runId, stage);
        assert.ok(name.length <= MAX_JOB_NAME_LENGTH);
        assert.equal(jobName(runId, stage), name);
        names.add(name);
      }
    }
    assert.equal(names.size, 3 * STAGES.length);
  });
});

describe('configMapName', () => {
  it('is derived from the pipeline', () => {
    assert.equal(configMapName('iris'), 'iris-pipeline');
  });
});

describe('runNowRunId', () => {
  const cases: [name: string, value: string, expected: RegExp | undefined][] = [
    ['an RFC 3339 time', '2026-12-04T15:30:07Z', /^iris-manual-20261204153007-[0-9a-f]{6}$/],
    [
      'a time with an offset',
      '2026-12-04T16:30:07+01:00',
      /^iris-manual-20261204153007-[0-9a-f]{6}$/,
    ],
    ['not a time', 'now please', undefined],
    ['a bare number, which Date would read as a year', '1', undefined],
    ['a date without a time', '2026-12-04', undefined],
    ['a time without a zone', '2026-12-04T15:30:07', undefined],
    ['an impossible date', '2026-02-30T15:30:07Z', undefined],
    ['empty', '  ', undefined],
  ];
  for (const [name, value, expected] of cases) {
    it(name, () => {
      const id = runNowRunId('iris', value);
      if (expected === undefined) return assert.equal(id, undefined);
      assert.match(id ?? '', expected);
      assert.equal(parseRunId(id ?? '', 'iris')?.kind, 'manual');
      assert.equal(runNowRunId('iris', value), id, 'the same annotation names the same run');
    });
  }

  it('gives two requests in the same second different runs', () => {
    assert.notEqual(
      runNowRunId('iris', '2026-12-04T15:30:07Z'),
      runNowRunId('iris', '2026-12-04T15:30:07.5Z'),
    );
  });
});
