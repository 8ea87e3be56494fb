import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DAY_MS, utcOffsetMs, zonedDayWindow, zonedTime } from './zone.js';

const ms = (iso: string) => new Date(iso).getTime();
const HOUR_MS = 3_600_000;

describe('zonedTime and utcOffsetMs', () => {
  const cases: [zone: string, instant: string, wall: string, offsetHours: number][] = [
    ['Etc/UTC', '2026-12-04T15:30:07Z', '2026-12-04 15:30:07', 0],
    ['Europe/Berlin', '2026-01-15T23:30:00Z', '2026-01-16 00:30:00', 1],
    ['Europe/Berlin', '2026-07-15T22:00:00Z', '2026-07-16 00:00:00', 2],
    ['America/New_York', '2026-07-15T03:59:59Z', '2026-07-14 23:59:59', -4],
    ['Australia/Lord_Howe', '2026-06-15T00:00:00Z', '2026-06-15 10:30:00', 10.5],
  ];
  for (const [zone, instant, wall, offsetHours] of cases) {
    it(`${instant} in ${zone} reads ${wall}`, () => {
      const t = zonedTime(ms(instant), zone);
      const two = (n: number) => String(n).padStart(2, '0');
      assert.equal(
        `${t.year}-${two(t.month)}-${two(t.day)} ${two(t.hour)}:${two(t.minute)}:${two(t.second)}`,
        wall,
      );
      assert.equal(utcOffsetMs(ms(instant), zone), offsetHours * HOUR_MS);
    });
  }
});

describe('zonedDayWindow', () => {
  const cases: [
    name: string,
    zone: string,
    instant: string,
    start: string,
    hours: number,
    plain: boolean,
  ][] = [
    ['an ordinary day', 'Europe/Berlin', '2026-06-10T12:00:00Z', '2026-06-09T22:00:00Z', 24, true],
    [
      'clocks go forward',
      'Europe/Berlin',
      '2026-03-29T12:00:00Z',
      '2026-03-28T23:00:00Z',
      23,
      false,
    ],
    ['clocks go back', 'Europe/Berlin', '2026-10-25T12:00:00Z', '2026-10-24T22:00:00Z', 25, false],
    [
      'clocks go back, New York',
      'America/New_York',
      '2026-11-01T12:00:00Z',
      '2026-11-01T04:00:00Z',
      25,
      false,
    ],
    // Santiago moves from 00:00 to 01:00: the day has no midnight.
    [
      'midnight does not exist',
      'America/Santiago',
      '2026-09-06T12:00:00Z',
      '2026-09-06T03:00:00Z',
      24,
      false,
    ],
    // 23:30 on the 5th, after the boundary moved out of the gap: the next window holds it.
    [
      'the hour before it',
      'America/Santiago',
      '2026-09-06T03:30:00Z',
      '2026-09-06T03:00:00Z',
      24,
      false,
    ],
    [
      'the day before it',
      'America/Santiago',
      '2026-09-06T02:59:00Z',
      '2026-09-05T04:00:00Z',
      23,
      false,
    ],
  ];
  for (const [name, zone, instant, start, hours, plain] of cases) {
    it(`${name} (${zone})`, () => {
      const day = zonedDayWindow(ms(instant), zone);
      assert.equal(new Date(day.start).toISOString(), new Date(start).toISOString());
      assert.equal(day.end - day.start, hours * HOUR_MS);
      assert.equal(day.plain, plain);
      assert.ok(day.start <= ms(instant) && ms(instant) < day.end);
    });
  }

  it('tiles the timeline: each day ends where the next begins', () => {
    for (const zone of ['Europe/Berlin', 'America/Santiago', 'Australia/Lord_Howe']) {
      let day = zonedDayWindow(ms('2026-01-01T12:00:00Z'), zone);
      for (let i = 0; i < 366; i += 1) {
        const next = zonedDayWindow(day.end, zone);
        assert.equal(next.start, day.end, `${zone} after ${new Date(day.start).toISOString()}`);
        assert.equal(zonedDayWindow(day.end - 1, zone).start, day.start);
        assert.ok(next.end - next.start >= DAY_MS - 2 * HOUR_MS);
        day = next;
      }
    }
  });
});
