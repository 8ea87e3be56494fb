import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  decideConcurrency,
  MAX_LISTED_MISSED_SLOTS,
  planDueRuns,
  retryDelayMs,
  type ConcurrencyDecision,
  type ConcurrencyPolicy,
  type MissedRunsPolicy,
  type PlanInput,
  type RunPlan,
} from './plan.js';

const at = (iso: string) => new Date(iso);
const MINUTE_MS = 60_000;

const IRIS: PlanInput = {
  pipeline: 'iris',
  scheduleKey: 'pipeline',
  startStage: 'collect',
  schedule: '*/2 * * * *',
  timeZone: 'Etc/UTC',
  now: at('2026-12-04T15:30:05Z'),
  lastScheduleTime: at('2026-12-04T15:28:00Z'),
  startingDeadlineSeconds: 60,
  missedRuns: { policy: 'RunLatest', limit: 10 },
};

/** A plan reduced to what the tables compare: ids with their trigger, skipped ids. */
function summary(plan: RunPlan) {
  return {
    run: plan.run.map((r) => `${r.runId} ${r.trigger}`),
    skipped: plan.skipped.map((s) => s.runId),
    newLastScheduleTime: plan.newLastScheduleTime?.toISOString(),
    nextRunAt: plan.nextRunAt.toISOString(),
  };
}

/** iris-2026120415MM for each minute given. */
const ids = (minutes: number[], suffix = '') =>
  minutes.map((m) => `iris-2026120415${String(m).padStart(2, '0')}${suffix}`);

/** Ticks a scheduler every stepMs from `from` to `to`, feeding each plan's lastScheduleTime to the next. */
function tick(input: Omit<PlanInput, 'now'>, from: Date, to: Date, stepMs: number) {
  const runs: string[] = [];
  const skipped: string[] = [];
  let last = input.lastScheduleTime;
  for (let now = from.getTime(); now <= to.getTime(); now += stepMs) {
    const plan = planDueRuns({ ...input, now: new Date(now), lastScheduleTime: last });
    runs.push(...plan.run.map((r) => r.runId));
    skipped.push(...plan.skipped.map((s) => s.runId));
    last = plan.newLastScheduleTime;
  }
  return { runs, skipped };
}

describe('planDueRuns', () => {
  const cases: [name: string, input: Partial<PlanInput>, expected: ReturnType<typeof summary>][] = [
    [
      'a slot on time',
      {},
      {
        run: ['iris-202612041530 schedule'],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'nothing due yet',
      { now: at('2026-12-04T15:31:59Z'), lastScheduleTime: at('2026-12-04T15:30:00Z') },
      {
        run: [],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'exactly at the deadline is on time',
      { now: at('2026-12-04T15:31:00Z'), missedRuns: { policy: 'Skip', limit: 10 } },
      {
        run: ['iris-202612041530 schedule'],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'the clock went back: nothing runs twice',
      { now: at('2026-12-04T15:29:00Z'), lastScheduleTime: at('2026-12-04T15:30:00Z') },
      {
        run: [],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'first start within the deadline',
      { lastScheduleTime: undefined, now: at('2026-12-04T15:30:30Z') },
      {
        run: ['iris-202612041530 schedule'],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'first start after the deadline: nothing runs, nothing is missed',
      { lastScheduleTime: undefined, now: at('2026-12-04T15:31:30Z') },
      {
        run: [],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'first start, long after creation: still nothing is missed',
      {
        lastScheduleTime: undefined,
        createdAt: at('2026-12-01T00:00:00Z'),
        now: at('2026-12-04T15:30:10Z'),
        missedRuns: { policy: 'RunAll', limit: 10 },
      },
      {
        run: ['iris-202612041530 schedule'],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'first start: a slot before the pipeline existed does not run',
      {
        lastScheduleTime: undefined,
        createdAt: at('2026-12-04T15:30:10Z'),
        now: at('2026-12-04T15:30:40Z'),
      },
      {
        run: [],
        skipped: [],
        newLastScheduleTime: undefined,
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
    [
      'a stage schedule',
      { scheduleKey: 'predict', startStage: 'predict' },
      {
        run: ['iris-predict-202612041530 schedule'],
        skipped: [],
        newLastScheduleTime: '2026-12-04T15:30:00.000Z',
        nextRunAt: '2026-12-04T15:32:00.000Z',
      },
    ],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => assert.deepEqual(summary(planDueRuns({ ...IRIS, ...input })), expected));
  }

  it('every 2 minutes produces iris-202612041530, iris-202612041532', () => {
    const { runs, skipped } = tick(
      IRIS,
      at('2026-12-04T15:29:10Z'),
      at('2026-12-04T15:33:10Z'),
      20_000,
    );
    assert.deepEqual(runs, ['iris-202612041530', 'iris-202612041532']);
    assert.deepEqual(skipped, []);
  });

  it('carries the start stage and the slot on each run', () => {
    const [run] = planDueRuns({ ...IRIS, scheduleKey: 'train', startStage: 'train' }).run;
    assert.deepEqual(run, {
      runId: 'iris-train-202612041530',
      scheduledAt: at('2026-12-04T15:30:00Z'),
      trigger: 'schedule',
      startStage: 'train',
    });
  });
});

describe('planDueRuns: missed slots', () => {
  // Down from 15:00: ten slots, 15:02 to 15:20.
  const RESTART = { lastScheduleTime: at('2026-12-04T15:00:00Z') };
  const ON_TIME = at('2026-12-04T15:20:30Z');
  const LATE = at('2026-12-04T15:21:30Z');
  const MISSED = [2, 4, 6, 8, 10, 12, 14, 16, 18];

  const cases: [
    name: string,
    now: Date,
    policy: MissedRunsPolicy,
    limit: number,
    run: string[],
    skipped: string[],
  ][] = [
    ['Skip, newest on time', ON_TIME, 'Skip', 10, ids([20], ' schedule'), ids(MISSED)],
    ['Skip, none on time', LATE, 'Skip', 10, [], ids([...MISSED, 20])],
    ['RunLatest, newest on time', ON_TIME, 'RunLatest', 10, ids([20], ' schedule'), ids(MISSED)],
    ['RunLatest, none on time', LATE, 'RunLatest', 10, ids([20], ' catch-up'), ids(MISSED)],
    [
      'RunAll within the limit',
      ON_TIME,
      'RunAll',
      10,
      [...ids(MISSED, ' catch-up'), ...ids([20], ' schedule')],
      [],
    ],
    ['RunAll, none on time', LATE, 'RunAll', 10, ids([...MISSED, 20], ' catch-up'), []],
    [
      'RunAll over the limit runs the latest, oldest first',
      ON_TIME,
      'RunAll',
      3,
      [...ids([14, 16, 18], ' catch-up'), ...ids([20], ' schedule')],
      ids([2, 4, 6, 8, 10, 12]),
    ],
    [
      'RunAll over the limit, none on time',
      LATE,
      'RunAll',
      4,
      ids([14, 16, 18, 20], ' catch-up'),
      ids([2, 4, 6, 8, 10, 12]),
    ],
  ];
  for (const [name, now, policy, limit, run, skipped] of cases) {
    it(`restart after 10 missed slots: ${name}`, () => {
      const plan = planDueRuns({ ...IRIS, ...RESTART, now, missedRuns: { policy, limit } });
      assert.deepEqual(summary(plan), {
        run,
        skipped,
        newLastScheduleTime: '2026-12-04T15:20:00.000Z',
        nextRunAt: '2026-12-04T15:22:00.000Z',
      });
      assert.ok(plan.skipped.every((s) => s.count === 1));
    });
  }

  const reasons: [policy: MissedRunsPolicy, limit: number, reason: string][] = [
    [
      'Skip',
      10,
      'not started within startingDeadlineSeconds (60s) of its slot; missedRuns.policy is Skip',
    ],
    [
      'RunLatest',
      10,
      'not started within startingDeadlineSeconds (60s) of its slot; missedRuns.policy is RunLatest and the slot of 2026-12-04T15:20:00.000Z runs instead',
    ],
    [
      'RunAll',
      3,
      'not started within startingDeadlineSeconds (60s) of its slot; missedRuns.policy is RunAll and only the latest 3 missed slots run',
    ],
  ];
  for (const [policy, limit, reason] of reasons) {
    it(`says why a slot is skipped: ${policy}`, () => {
      const plan = planDueRuns({ ...IRIS, ...RESTART, now: LATE, missedRuns: { policy, limit } });
      assert.ok(plan.skipped.length > 0);
      assert.deepEqual(plan.skipped[0], {
        runId: 'iris-202612041502',
        scheduledAt: at('2026-12-04T15:02:00Z'),
        reason,
        count: 1,
      });
    });
  }

  it('a slow scheduler: the deadline passed with no outage', () => {
    const input = { ...IRIS, now: at('2026-12-04T15:31:30Z') };
    const plans = (['Skip', 'RunLatest', 'RunAll'] as const).map((policy) =>
      summary(planDueRuns({ ...input, missedRuns: { policy, limit: 10 } })),
    );
    assert.deepEqual(
      plans.map((p) => [p.run, p.skipped]),
      [
        [[], ['iris-202612041530']],
        [['iris-202612041530 catch-up'], []],
        [['iris-202612041530 catch-up'], []],
      ],
    );
  });

  const yearDown: [policy: MissedRunsPolicy, runs: number][] = [
    ['RunAll', 11],
    ['Skip', 1],
    ['RunLatest', 1],
  ];
  for (const [policy, runs] of yearDown) {
    it(`a year down stays bounded and accounts for every slot: ${policy}`, () => {
      const plan = planDueRuns({
        ...IRIS,
        now: at('2026-12-04T15:30:20Z'),
        lastScheduleTime: at('2025-12-04T15:30:00Z'),
        missedRuns: { policy, limit: 10 },
      });
      const [summaryEntry, ...listed] = plan.skipped;

      assert.equal(plan.run.length, runs);
      assert.equal(plan.run.at(-1)?.runId, 'iris-202612041530');
      assert.equal(listed.length + plan.run.length, MAX_LISTED_MISSED_SLOTS + 10);
      assert.equal(summaryEntry?.runId, 'iris-202512041532');
      assert.match(
        summaryEntry?.reason ?? '',
        /^261790 slots from 2025-12-04T15:32:00.000Z to 2026-12-03T05:50:00.000Z, too many to list one by one: not started within/,
      );
      // Every slot of the year is run or skipped, exactly once.
      const counted = plan.skipped.reduce((sum, s) => sum + s.count, 0) + plan.run.length;
      assert.equal(counted, 365 * 720);
      const allIds = [...plan.run, ...plan.skipped].map((r) => r.runId);
      assert.equal(new Set(allIds).size, allIds.length);
      assert.equal(listed[0]?.scheduledAt.getTime(), at('2026-12-03T05:52:00Z').getTime());
    });
  }
});

describe('planDueRuns across daylight saving time', () => {
  const BERLIN = { ...IRIS, timeZone: 'Europe/Berlin', lastScheduleTime: undefined };

  it('hourly, ticking every 5 minutes through the Berlin fall-back day: 25 runs, no id twice', () => {
    const { runs, skipped } = tick(
      { ...BERLIN, schedule: '0 * * * *' },
      at('2026-10-24T21:58:00Z'),
      at('2026-10-25T22:59:00Z'),
      5 * MINUTE_MS,
    );
    assert.equal(runs.length, 25);
    assert.equal(new Set(runs).size, 25);
    assert.deepEqual(skipped, []);
    assert.ok(runs.includes('iris-202610250000') && runs.includes('iris-202610250100'));
  });

  it('daily at 02:30 runs once on the Berlin fall-back day, ticking every minute', () => {
    const { runs } = tick(
      { ...BERLIN, schedule: '30 2 * * *', lastScheduleTime: at('2026-10-24T00:30:00Z') },
      at('2026-10-24T22:00:00Z'),
      at('2026-10-25T03:00:00Z'),
      MINUTE_MS,
    );
    assert.deepEqual(runs, ['iris-202610250030']);
  });

  it('daily at 02:30 runs at 03:00 on the New York spring-forward day', () => {
    const { runs } = tick(
      {
        ...IRIS,
        timeZone: 'America/New_York',
        schedule: '30 2 * * *',
        lastScheduleTime: at('2026-03-07T07:30:00Z'),
      },
      at('2026-03-08T05:00:00Z'),
      at('2026-03-08T09:00:00Z'),
      MINUTE_MS,
    );
    assert.deepEqual(runs, ['iris-202603080700']);
  });

  it('a restart in the repeated hour catches up without producing an id twice', () => {
    const input = {
      ...BERLIN,
      schedule: '*/20 * * * *',
      missedRuns: { policy: 'RunAll' as const, limit: 10 },
    };
    // Up until 02:10 CEST, down until 02:50 CET (the second pass), then ticking.
    const before = tick(
      input,
      at('2026-10-24T23:00:00Z'),
      at('2026-10-25T00:10:00Z'),
      10 * MINUTE_MS,
    );
    const plan = planDueRuns({
      ...input,
      now: at('2026-10-25T01:50:30Z'),
      lastScheduleTime: at('2026-10-25T00:00:00Z'),
    });
    const after = tick(
      { ...input, lastScheduleTime: plan.newLastScheduleTime },
      at('2026-10-25T02:00:00Z'),
      at('2026-10-25T03:00:00Z'),
      10 * MINUTE_MS,
    );

    const catchUp = plan.run.map((r) => r.runId);
    assert.deepEqual(before.runs, [
      'iris-202610242300',
      'iris-202610242320',
      'iris-202610242340',
      'iris-202610250000',
    ]);
    assert.deepEqual(catchUp, [
      'iris-202610250020', // 02:20 CEST
      'iris-202610250040', // 02:40 CEST
      'iris-202610250100', // 02:00 CET, the second pass
      'iris-202610250120', // 02:20 CET
      'iris-202610250140', // 02:40 CET
    ]);
    assert.deepEqual(after.runs, [
      'iris-202610250200',
      'iris-202610250220',
      'iris-202610250240',
      'iris-202610250300',
    ]);
    const all = [...before.runs, ...catchUp, ...after.runs];
    assert.equal(new Set(all).size, all.length);
    assert.equal(all.length, 13);
  });
});

describe('planDueRuns refuses', () => {
  const cases: [name: string, input: Partial<PlanInput>, error: RegExp][] = [
    ['a negative deadline', { startingDeadlineSeconds: -1 }, /startingDeadlineSeconds/],
    ['a limit of 0', { missedRuns: { policy: 'RunAll', limit: 0 } }, /missedRuns.limit/],
    ['an invalid date', { now: new Date(Number.NaN) }, /now is not a valid date/],
    ['a bad schedule', { schedule: '0 0 0 * * *' }, /^schedule: expected 5 fields/],
    ['a bad time zone', { timeZone: 'Mars/Base' }, /^timeZone: unknown IANA time zone/],
  ];
  for (const [name, input, error] of cases) {
    it(name, () => assert.throws(() => planDueRuns({ ...IRIS, ...input }), { message: error }));
  }
});

describe('decideConcurrency', () => {
  const cases: [policy: ConcurrencyPolicy, active: string[], decision: ConcurrencyDecision][] = [
    ['Allow', [], { action: 'start' }],
    ['Allow', ['iris-202612041528'], { action: 'start' }],
    ['Forbid', [], { action: 'start' }],
    [
      'Forbid',
      ['iris-202612041528'],
      {
        action: 'skip',
        reason: 'run iris-202612041528 is still running and concurrencyPolicy is Forbid',
      },
    ],
    [
      'Forbid',
      ['iris-202612041526', 'iris-202612041528'],
      {
        action: 'skip',
        reason:
          'runs iris-202612041526, iris-202612041528 are still running and concurrencyPolicy is Forbid',
      },
    ],
    ['Replace', [], { action: 'start' }],
    [
      'Replace',
      ['iris-202612041526', 'iris-202612041528', 'iris-202612041526'],
      { action: 'replace', cancel: ['iris-202612041526', 'iris-202612041528'] },
    ],
  ];
  for (const [policy, active, decision] of cases) {
    it(`${policy} with ${active.length} active`, () => {
      assert.deepEqual(decideConcurrency(policy, active), decision);
    });
  }
});

describe('retryDelayMs', () => {
  const cases: [attempt: number, delay: number][] = [
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [6, 32_000],
    [7, 60_000],
    [100, 60_000],
    [5000, 60_000],
  ];
  for (const [attempt, delay] of cases) {
    it(`retry ${attempt} waits ${delay} ms`, () => assert.equal(retryDelayMs(attempt), delay));
  }

  it('takes another base and cap', () => {
    const backoff = { baseMs: 500, capMs: 5000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => retryDelayMs(n, backoff)),
      [500, 1000, 2000, 4000, 5000, 5000],
    );
  });

  it('refuses an attempt that is not a whole number from 1', () => {
    for (const attempt of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => retryDelayMs(attempt), RangeError);
    }
  });
});
