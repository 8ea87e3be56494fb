import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  countSlotsBetween,
  latestSlotsBetween,
  nextSlots,
  parseSchedule,
  slotsBetween,
  validateCron,
  validateTimeZone,
} from './cron.js';

const at = (iso: string) => new Date(iso);
const isos = (dates: Date[]) => dates.map((d) => d.toISOString());
const HOUR_MS = 3_600_000;

describe('validateCron', () => {
  const accepted = [
    '*/2 * * * *',
    '0 3 * * *',
    '0 9 * * MON-FRI',
    '0 9 * * mon-fri/2',
    '30 2,14 * * *',
    '0 0 1 JAN,jul *',
    '0-59/15 * * * *',
    '0 0 ? * SUN',
    '0 0 29 2 *',
    '0 0 1,15 * 1-5',
    '00 01 * * 0',
    '*/5\t* * * *',
  ];
  for (const expression of accepted) {
    it(`accepts ${JSON.stringify(expression)}`, () => {
      assert.equal(validateCron(expression), undefined);
    });
  }

  const rejected: [expression: string, message: RegExp][] = [
    ['0 0 0 * * *', /expected 5 fields .* got 6: seconds and years are not supported/],
    ['*/5 * * * * *', /got 6/],
    ['0 0 * * * 2026 *', /got 7/],
    ['0 0 * *', /expected 5 fields .* got 4$/],
    ['', /must not be empty/],
    [' 0 0 * * *', /start or end with spaces/],
    ['*/0 * * * *', /minute "\*\/0": the step must be a whole number from 1 to 60/],
    ['*/61 * * * *', /step must be a whole number from 1 to 60/],
    ['*/2/3 * * * *', /more than one step/],
    ['5/10 * * * *', /a step needs \* or a range before it, such as 5-59\/10/],
    ['60 * * * *', /minute "60" is out of range 0-59/],
    ['0 24 * * *', /hour "24" is out of range 0-23/],
    ['0 0 0 * *', /day-of-month "0" is out of range 1-31/],
    ['0 0 32 * *', /day-of-month "32" is out of range 1-31/],
    ['0 0 * 13 *', /month "13" is out of range 1-12/],
    ['0 0 * * 8', /day-of-week "8" is out of range 0-6/],
    ['0 0 * * 7', /write Sunday as 0 or SUN/],
    ['0 0 * * 5-7', /write Sunday as 0 or SUN/],
    ['5-1 * * * *', /"5-1": a range must run from low to high/],
    ['0 0 * DEC-JAN *', /ranges do not wrap/],
    ['0 0 * * MON-SUN', /ranges do not wrap/],
    ['1-2-3 * * * *', /a range has two ends/],
    ['1,,2 * * * *', /minute: empty entry in a list/],
    ['x * * * *', /minute "x" is not a number from 0 to 59$/],
    ['MON * * * *', /minute "MON" is not a number/],
    ['0 0 * * MONDAY', /"MONDAY" is not a number from 0 to 6, or a name such as MON/],
    ['0 0 * JANUARY *', /or a name such as FEB/],
    ['? * * * *', /minute "\?" is not a number/],
    ['-1 * * * *', /minute "" is not a number/],
    ['@hourly', /macros .* for @hourly write "0 \* \* \* \*"/],
    ['@daily', /for @daily write "0 0 \* \* \*"/],
    ['@reboot', /macros such as @hourly are not accepted, write the five fields$/],
    ['0 0 L * *', /day-of-month "L": L, W, # and \+ are not standard cron/],
    ['0 0 15W * *', /"15W": L, W, #/],
    ['0 0 * * 5L', /"5L": L, W, #/],
    ['0 0 * * MON#1', /"MON#1": L, W, #/],
    ['0 0 1 * +MON', /"\+MON": L, W, #/],
    ['0 0 31 2 *', /never fires/],
    ['0 0 30 2 *', /never fires/],
    ['0 0 31 4,6,9,11 *', /never fires/],
  ];
  for (const [expression, message] of rejected) {
    it(`rejects ${JSON.stringify(expression)}`, () => {
      assert.match(validateCron(expression) ?? 'accepted', message);
    });
  }
});

describe('validateTimeZone', () => {
  for (const zone of [
    'Etc/UTC',
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'US/Eastern',
    'Etc/GMT+5',
  ]) {
    it(`accepts ${zone}`, () => assert.equal(validateTimeZone(zone), undefined));
  }

  const rejected: [zone: string, message: string][] = [
    ['Mars/Base', 'unknown IANA time zone "Mars/Base"'],
    ['Local', 'unknown IANA time zone "Local"'],
    ['', 'unknown IANA time zone ""'],
    ['+01:00', 'unknown IANA time zone "+01:00"'],
    [
      'europe/berlin',
      'unknown IANA time zone "europe/berlin" (names are case-sensitive; did you mean "Europe/Berlin"?)',
    ],
    [
      'Europe/BERLIN',
      'unknown IANA time zone "Europe/BERLIN" (names are case-sensitive; did you mean "Europe/Berlin"?)',
    ],
  ];
  for (const [zone, message] of rejected) {
    it(`rejects ${JSON.stringify(zone)}`, () => assert.equal(validateTimeZone(zone), message));
  }
});

describe('parseSchedule', () => {
  it('keeps the expression and the time zone', () => {
    const schedule = parseSchedule('0 3 * * *', 'Europe/Berlin');
    assert.equal(schedule.expression, '0 3 * * *');
    assert.equal(schedule.timeZone, 'Europe/Berlin');
  });

  const errors: [expression: string, zone: string, message: RegExp][] = [
    ['0 0 0 * * *', 'Etc/UTC', /^schedule: expected 5 fields/],
    ['*/0 * * * *', 'Etc/UTC', /^schedule: minute "\*\/0"/],
    ['*/2 * * * *', 'Mars/Base', /^timeZone: unknown IANA time zone "Mars\/Base"$/],
  ];
  for (const [expression, zone, message] of errors) {
    it(`throws for ${expression} in ${zone}`, () => {
      assert.throws(() => parseSchedule(expression, zone), { name: 'Error', message });
    });
  }
});

describe('nextSlots', () => {
  const cases: [
    name: string,
    expression: string,
    zone: string,
    after: string,
    expected: string[],
  ][] = [
    [
      'every 2 minutes, from inside a minute',
      '*/2 * * * *',
      'Etc/UTC',
      '2026-12-04T15:29:30.500Z',
      ['2026-12-04T15:30:00.000Z', '2026-12-04T15:32:00.000Z', '2026-12-04T15:34:00.000Z'],
    ],
    [
      'strictly after a slot',
      '*/2 * * * *',
      'Etc/UTC',
      '2026-12-04T15:30:00.000Z',
      ['2026-12-04T15:32:00.000Z', '2026-12-04T15:34:00.000Z', '2026-12-04T15:36:00.000Z'],
    ],
    [
      '09:00 in New York, winter then summer time',
      '0 9 * * *',
      'America/New_York',
      '2026-03-06T12:00:00Z',
      ['2026-03-06T14:00:00.000Z', '2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z'],
    ],
    [
      'day of month OR day of week when both are restricted',
      '0 0 1 * MON',
      'Etc/UTC',
      '2026-06-30T00:00:00Z',
      ['2026-07-01T00:00:00.000Z', '2026-07-06T00:00:00.000Z', '2026-07-13T00:00:00.000Z'],
    ],
    [
      'a stepped day of month counts as restricted too',
      '0 0 */10 * MON',
      'Etc/UTC',
      '2026-06-30T00:00:00Z',
      ['2026-07-01T00:00:00.000Z', '2026-07-06T00:00:00.000Z', '2026-07-11T00:00:00.000Z'],
    ],
    [
      'day of week alone',
      '0 0 ? * MON',
      'Etc/UTC',
      '2026-06-30T00:00:00Z',
      ['2026-07-06T00:00:00.000Z', '2026-07-13T00:00:00.000Z', '2026-07-20T00:00:00.000Z'],
    ],
  ];
  for (const [name, expression, zone, after, expected] of cases) {
    it(name, () => {
      assert.deepEqual(isos(nextSlots(parseSchedule(expression, zone), at(after), 3)), expected);
    });
  }
});

describe('slotsBetween and latestSlotsBetween', () => {
  const every2 = parseSchedule('*/2 * * * *', 'Etc/UTC');

  it('excludes the start, includes the end', () => {
    assert.deepEqual(
      isos(slotsBetween(every2, at('2026-12-04T15:30:00Z'), at('2026-12-04T15:34:00Z'), 10)),
      ['2026-12-04T15:32:00.000Z', '2026-12-04T15:34:00.000Z'],
    );
    assert.deepEqual(
      isos(latestSlotsBetween(every2, at('2026-12-04T15:30:00Z'), at('2026-12-04T15:34:00Z'), 10)),
      ['2026-12-04T15:32:00.000Z', '2026-12-04T15:34:00.000Z'],
    );
  });

  it('takes the oldest or the newest when limited', () => {
    const from = at('2026-12-04T15:00:00Z');
    const to = at('2026-12-04T16:00:00Z');
    assert.deepEqual(isos(slotsBetween(every2, from, to, 2)), [
      '2026-12-04T15:02:00.000Z',
      '2026-12-04T15:04:00.000Z',
    ]);
    assert.deepEqual(isos(latestSlotsBetween(every2, from, to, 2)), [
      '2026-12-04T15:58:00.000Z',
      '2026-12-04T16:00:00.000Z',
    ]);
  });

  it('returns nothing for an empty or reversed range', () => {
    assert.deepEqual(
      slotsBetween(every2, at('2026-12-04T15:30:00Z'), at('2026-12-04T15:31:59Z'), 10),
      [],
    );
    assert.deepEqual(
      latestSlotsBetween(every2, at('2026-12-04T15:40:00Z'), at('2026-12-04T15:30:00Z'), 10),
      [],
    );
  });

  const windows: [expression: string, zone: string, from: string, to: string][] = [
    ['*/20 * * * *', 'Europe/Berlin', '2026-10-24T22:10:00Z', '2026-10-25T03:00:00Z'],
    ['30 1 * * *', 'America/New_York', '2026-10-30T00:00:00Z', '2026-11-03T00:00:00Z'],
    ['*/15 * * * *', 'America/New_York', '2026-03-08T05:00:00Z', '2026-03-08T09:00:00Z'],
  ];
  for (const [expression, zone, from, to] of windows) {
    it(`walks backward over the same slots as forward: ${expression} in ${zone}`, () => {
      const schedule = parseSchedule(expression, zone);
      const forward = slotsBetween(schedule, at(from), at(to), Infinity);
      assert.ok(forward.length > 3);
      assert.deepEqual(
        isos(latestSlotsBetween(schedule, at(from), at(to), Infinity)),
        isos(forward),
      );
      assert.ok(forward.every((slot) => slot.getTime() % 60_000 === 0));
    });
  }
});

describe('daylight saving time', () => {
  // The local calendar days of the 2026 transitions, as UTC instants.
  const days = {
    berlinBack: ['2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z'],
    berlinForward: ['2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'],
    newYorkBack: ['2026-11-01T04:00:00Z', '2026-11-02T05:00:00Z'],
    newYorkForward: ['2026-03-08T05:00:00Z', '2026-03-09T04:00:00Z'],
  } as const;
  const zoneOf = (day: keyof typeof days) =>
    day.startsWith('berlin') ? 'Europe/Berlin' : 'America/New_York';
  const slotsOn = (expression: string, day: keyof typeof days) => {
    const [start, end] = days[day];
    const schedule = parseSchedule(expression, zoneOf(day));
    return isos(
      slotsBetween(
        schedule,
        new Date(at(start).getTime() - 1),
        new Date(at(end).getTime() - 1),
        Infinity,
      ),
    );
  };

  const cases: [name: string, expression: string, day: keyof typeof days, expected: string[]][] = [
    [
      'Berlin, clocks back: 02:30 runs once, at its first occurrence (CEST)',
      '30 2 * * *',
      'berlinBack',
      ['2026-10-25T00:30:00.000Z'],
    ],
    [
      'New York, clocks back: 01:30 runs once, at its first occurrence (EDT)',
      '30 1 * * *',
      'newYorkBack',
      ['2026-11-01T05:30:00.000Z'],
    ],
    [
      'Berlin, clocks back: a list of fixed times runs each once',
      '30 2,14 * * *',
      'berlinBack',
      ['2026-10-25T00:30:00.000Z', '2026-10-25T13:30:00.000Z'],
    ],
    [
      'Berlin, clocks forward: 02:30 does not exist and runs at 03:00 CEST',
      '30 2 * * *',
      'berlinForward',
      ['2026-03-29T01:00:00.000Z'],
    ],
    [
      'New York, clocks forward: 02:30 does not exist and runs at 03:00 EDT',
      '30 2 * * *',
      'newYorkForward',
      ['2026-03-08T07:00:00.000Z'],
    ],
    [
      'Berlin, clocks back: 02:00 also runs once',
      '0 2 * * *',
      'berlinBack',
      ['2026-10-25T00:00:00.000Z'],
    ],
  ];
  for (const [name, expression, day, expected] of cases) {
    it(name, () => assert.deepEqual(slotsOn(expression, day), expected));
  }

  it('hourly: both passes of the repeated hour in Berlin fire', () => {
    const schedule = parseSchedule('0 * * * *', 'Europe/Berlin');
    assert.deepEqual(
      isos(slotsBetween(schedule, at('2026-10-24T23:30:00Z'), at('2026-10-25T01:30:00Z'), 10)),
      [
        '2026-10-25T00:00:00.000Z', // 02:00 CEST
        '2026-10-25T01:00:00.000Z', // 02:00 CET
      ],
    );
  });

  const hourly: [day: keyof typeof days, runs: number][] = [
    ['berlinBack', 25],
    ['berlinForward', 23],
    ['newYorkBack', 25],
    ['newYorkForward', 23],
  ];
  for (const [day, runs] of hourly) {
    it(`hourly fires ${runs} times on the local day ${day}, and 24 times in the 24 hours after its start`, () => {
      const local = slotsOn('0 * * * *', day);
      assert.equal(local.length, runs);
      assert.equal(new Set(local).size, runs);

      const start = at(days[day][0]);
      const schedule = parseSchedule('0 * * * *', zoneOf(day));
      const real = slotsBetween(
        schedule,
        new Date(start.getTime() - 1),
        new Date(start.getTime() + 24 * HOUR_MS - 1),
        Infinity,
      );
      assert.equal(real.length, 24);
    });
  }

  it('an interval schedule skips the missing hour in New York', () => {
    const schedule = parseSchedule('*/30 * * * *', 'America/New_York');
    assert.deepEqual(
      isos(slotsBetween(schedule, at('2026-03-08T06:00:00Z'), at('2026-03-08T07:30:00Z'), 10)),
      [
        '2026-03-08T06:30:00.000Z', // 01:30 EST
        '2026-03-08T07:00:00.000Z', // 03:00 EDT: 02:00 and 02:30 never happened
        '2026-03-08T07:30:00.000Z',
      ],
    );
  });
});

describe('countSlotsBetween', () => {
  // Counting jumps over whole days; walking every slot is the reference.
  const cases: [expression: string, zone: string, from: string, to: string][] = [
    ['*/7 * * * *', 'Europe/Berlin', '2026-10-23T10:03:00Z', '2026-10-27T00:00:00Z'],
    ['*/7 * * * *', 'America/New_York', '2026-03-06T23:59:00Z', '2026-03-10T04:00:00Z'],
    ['0 * * * *', 'Europe/Berlin', '2026-03-01T00:00:00Z', '2026-04-15T12:00:00Z'],
    ['0 * * * *', 'America/Santiago', '2026-08-30T00:00:00Z', '2026-09-14T00:00:00Z'],
    ['*/30 * * * *', 'Australia/Lord_Howe', '2026-03-30T00:00:00Z', '2026-04-10T00:00:00Z'],
    ['30 2 * * *', 'Europe/Berlin', '2025-12-01T00:00:00Z', '2027-01-15T00:00:00Z'],
    ['30 2,14 * * *', 'America/New_York', '2026-02-01T00:00:00Z', '2026-12-01T00:00:00Z'],
    ['0 9 * * MON-FRI', 'Europe/Berlin', '2026-03-01T00:00:00Z', '2026-05-01T00:00:00Z'],
    ['0 0 1 * MON', 'Etc/UTC', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'],
    ['*/2 * * * *', 'Etc/UTC', '2026-12-04T15:30:00Z', '2026-12-04T15:30:00Z'],
    ['*/2 * * * *', 'Etc/UTC', '2026-12-04T15:30:00Z', '2026-12-04T15:40:00Z'],
  ];
  for (const [expression, zone, from, to] of cases) {
    it(`counts ${expression} in ${zone} from ${from} to ${to}`, () => {
      const schedule = parseSchedule(expression, zone);
      const walked = slotsBetween(schedule, at(from), at(to), Infinity).length;
      assert.equal(countSlotsBetween(schedule, at(from), at(to)), walked);
    });
  }

  it('counts a year of a two-minute schedule', () => {
    for (const zone of ['Etc/UTC', 'Europe/Berlin']) {
      const schedule = parseSchedule('*/2 * * * *', zone);
      const count = countSlotsBetween(
        schedule,
        at('2025-12-04T15:30:00Z'),
        at('2026-12-04T15:30:00Z'),
      );
      // A real 2-minute grid: the spring gap loses the slots the autumn repeat gives back.
      assert.equal(count, 365 * 720, zone);
    }
  });
});
