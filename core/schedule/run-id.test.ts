import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { manualRunId, parseRunId, scheduledRunId, type RunIdParts } from './run-id.js';
import type { ScheduleKey } from './stages.js';

const at = (iso: string) => new Date(iso);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LONGEST = 'a234567890b234567890c234567890d234567890';

describe('scheduledRunId', () => {
  const cases: [pipeline: string, key: ScheduleKey, slot: string, id: string][] = [
    ['iris', 'pipeline', '2026-12-04T15:30:00Z', 'iris-202612041530'],
    ['iris', 'pipeline', '2026-12-04T15:32:00Z', 'iris-202612041532'],
    ['iris', 'predict', '2026-12-04T15:30:00Z', 'iris-predict-202612041530'],
    ['iris', 'train', '2027-01-01T03:00:00Z', 'iris-train-202701010300'],
    ['churn-eu', 'collect', '2026-03-29T01:00:00Z', 'churn-eu-collect-202603290100'],
    [LONGEST, 'predict', '2026-12-04T15:30:00Z', `${LONGEST}-predict-202612041530`],
  ];
  for (const [pipeline, key, slot, id] of cases) {
    it(`${pipeline} ${key} ${slot} -> ${id}`, () => {
      assert.equal(scheduledRunId(pipeline, key, at(slot)), id);
      assert.ok(id.length <= 63 && DNS_LABEL.test(id));
    });
  }

  const invalid: [name: string, pipeline: string, slot: string, message: RegExp][] = [
    ['a slot with seconds', 'iris', '2026-12-04T15:30:07Z', /not a whole minute/],
    ['an upper-case name', 'Iris', '2026-12-04T15:30:00Z', /DNS-1123 label/],
    ['a name over 40 characters', `${LONGEST}x`, '2026-12-04T15:30:00Z', /at most 40/],
    ['a trailing dash', 'iris-', '2026-12-04T15:30:00Z', /DNS-1123 label/],
    ['a five-digit year', 'iris', '+010000-01-01T00:00:00Z', /4-digit year/],
  ];
  for (const [name, pipeline, slot, message] of invalid) {
    it(`refuses ${name}`, () => {
      assert.throws(() => scheduledRunId(pipeline, 'pipeline', at(slot)), {
        name: 'RangeError',
        message,
      });
    });
  }
});

describe('manualRunId', () => {
  const cases: [pipeline: string, requested: string, nonce: string | undefined, id: string][] = [
    ['iris', '2026-12-04T15:30:07.250Z', undefined, 'iris-manual-20261204153007'],
    ['iris', '2026-12-04T15:30:07.999Z', 'b', 'iris-manual-20261204153007-b'],
    ['iris', '2026-12-04T15:30:07Z', 'x9k2', 'iris-manual-20261204153007-x9k2'],
    [LONGEST, '2026-12-04T15:30:07Z', undefined, `${LONGEST}-manual-20261204153007`],
  ];
  for (const [pipeline, requested, nonce, id] of cases) {
    it(`${pipeline} ${requested} ${nonce ?? ''} -> ${id}`, () => {
      assert.equal(manualRunId(pipeline, at(requested), nonce), id);
    });
  }

  it('shortens a long name with its hash when a nonce would not fit', () => {
    const first = manualRunId(LONGEST, at('2026-12-04T15:30:07Z'), 'abcd1234');
    const twin = manualRunId(`${LONGEST.slice(0, 39)}z`, at('2026-12-04T15:30:07Z'), 'abcd1234');
    for (const id of [first, twin]) {
      assert.ok(id.length <= 63, id);
      assert.match(id, DNS_LABEL);
      assert.match(id, /^a234567890b234567890c2345-[0-9a-f]{6}-manual-20261204153007-abcd1234$/);
    }
    assert.notEqual(first, twin);
    assert.equal(manualRunId(LONGEST, at('2026-12-04T15:30:07Z'), 'abcd1234'), first);
  });

  it('refuses a nonce that is not 1-8 lowercase letters or digits', () => {
    for (const nonce of ['', 'ABC', 'a-b', '123456789']) {
      assert.throws(() => manualRunId('iris', at('2026-12-04T15:30:07Z'), nonce), RangeError);
    }
  });
});

describe('parseRunId', () => {
  const cases: [id: string, pipeline: string | undefined, parts: RunIdParts | undefined][] = [
    [
      'iris-202612041530',
      undefined,
      {
        kind: 'scheduled',
        pipeline: 'iris',
        scheduleKey: 'pipeline',
        scheduledAt: at('2026-12-04T15:30:00Z'),
      },
    ],
    [
      'iris-predict-202612041530',
      undefined,
      {
        kind: 'scheduled',
        pipeline: 'iris',
        scheduleKey: 'predict',
        scheduledAt: at('2026-12-04T15:30:00Z'),
      },
    ],
    [
      'iris-manual-20261204153007',
      undefined,
      { kind: 'manual', pipeline: 'iris', requestedAt: at('2026-12-04T15:30:07Z') },
    ],
    [
      'iris-manual-20261204153007-x9k2',
      'iris',
      { kind: 'manual', pipeline: 'iris', requestedAt: at('2026-12-04T15:30:07Z'), nonce: 'x9k2' },
    ],
    // A name ending like a stage: ambiguous alone, exact with the pipeline.
    [
      'nightly-train-202612041530',
      undefined,
      {
        kind: 'scheduled',
        pipeline: 'nightly',
        scheduleKey: 'train',
        scheduledAt: at('2026-12-04T15:30:00Z'),
      },
    ],
    [
      'nightly-train-202612041530',
      'nightly-train',
      {
        kind: 'scheduled',
        pipeline: 'nightly-train',
        scheduleKey: 'pipeline',
        scheduledAt: at('2026-12-04T15:30:00Z'),
      },
    ],
    [
      'nightly-train-202612041530',
      'nightly',
      {
        kind: 'scheduled',
        pipeline: 'nightly',
        scheduleKey: 'train',
        scheduledAt: at('2026-12-04T15:30:00Z'),
      },
    ],
    // Not a stage, so part of the name.
    [
      'iris-deploy-202612041530',
      undefined,
      {
        kind: 'scheduled',
        pipeline: 'iris-deploy',
        scheduleKey: 'pipeline',
        scheduledAt: at('2026-12-04T15:30:00Z'),
      },
    ],
    ['iris-deploy-202612041530', 'iris', undefined],
    ['iris-202612041530', 'other', undefined],
    ['iris', undefined, undefined],
    ['iris-20261204153', undefined, undefined],
    ['iris-202613041530', undefined, undefined],
    ['iris-202602301530', undefined, undefined],
    ['iris-202612042460', undefined, undefined],
    ['iris-manual-20261204153060', undefined, undefined],
    ['IRIS-202612041530', undefined, undefined],
    ['-202612041530', undefined, undefined],
    [`${LONGEST}x-202612041530`, undefined, undefined],
  ];
  for (const [id, pipeline, parts] of cases) {
    it(`${id}${pipeline === undefined ? '' : ` of ${pipeline}`}`, () => {
      assert.deepEqual(parseRunId(id, pipeline), parts);
    });
  }

  it('reads back every id it makes', () => {
    const slot = at('2026-12-04T15:30:00Z');
    const requested = at('2026-12-04T15:30:07Z');
    for (const pipeline of ['iris', 'x', 'nightly-train', 'iris-manual', LONGEST]) {
      for (const key of ['pipeline', 'collect', 'clean', 'train', 'predict'] as const) {
        const id = scheduledRunId(pipeline, key, slot);
        assert.deepEqual(parseRunId(id, pipeline), {
          kind: 'scheduled',
          pipeline,
          scheduleKey: key,
          scheduledAt: slot,
        });
      }
      for (const nonce of [undefined, 'a', 'abcd1234']) {
        const id = manualRunId(pipeline, requested, nonce);
        const expected: RunIdParts =
          nonce === undefined
            ? { kind: 'manual', pipeline, requestedAt: requested }
            : { kind: 'manual', pipeline, requestedAt: requested, nonce };
        assert.deepEqual(parseRunId(id, pipeline), expected, id);
        assert.ok(id.length <= 63 && DNS_LABEL.test(id), id);
      }
    }
  });

  it('gives the shortened name when the pipeline is not known', () => {
    const id = manualRunId(LONGEST, at('2026-12-04T15:30:07Z'), 'abcd1234');
    const parts = parseRunId(id);
    assert.equal(parts?.kind, 'manual');
    assert.match(parts?.pipeline ?? '', /^a234567890b234567890c2345-[0-9a-f]{6}$/);
  });
});
