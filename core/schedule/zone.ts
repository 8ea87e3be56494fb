/**
 * Wall-clock arithmetic in an IANA time zone, with nothing but Intl: enough to
 * cut the timeline into local calendar days, which is how missed slots are
 * counted without walking each one.
 */

export const DAY_MS = 86_400_000;

export interface ZonedTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    // h23, not hour12: false, which renders midnight as 24 in some ICU versions.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The wall-clock reading in timeZone at instant (milliseconds since the epoch, UTC). */
export function zonedTime(instant: number, timeZone: string): ZonedTime {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instant)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    year: fields.year ?? NaN,
    month: fields.month ?? NaN,
    day: fields.day ?? NaN,
    hour: fields.hour ?? NaN,
    minute: fields.minute ?? NaN,
    second: fields.second ?? NaN,
  };
}

/** How far timeZone's wall clock is ahead of UTC at instant, in milliseconds. */
export function utcOffsetMs(instant: number, timeZone: string): number {
  const t = zonedTime(instant, timeZone);
  const wall = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second);
  return wall - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant the wall clock reads `wall` (a local date at 00:00, written as if
 * it were UTC), or an instant next to it when midnight falls in a gap (zones
 * that change clocks at midnight). Day windows are cut only here, so they tile
 * the timeline with no overlap and no hole whatever it returns.
 */
function zonedMidnight(wall: number, timeZone: string): number {
  const guess = wall - utcOffsetMs(wall, timeZone);
  return wall - utcOffsetMs(guess, timeZone);
}

export interface DayWindow {
  /** Inclusive. */
  start: number;
  /** Exclusive: the next window's start. */
  end: number;
  /**
   * The window runs from local midnight to local midnight, 24 hours, with no
   * clock change inside: every wall-clock minute of the day occurs exactly once.
   */
  plain: boolean;
}

/**
 * The local calendar day around instant, as a window of UTC instants that
 * contains it. Where a midnight does not exist, the boundary is an instant
 * near it, shared by both neighbouring windows, and neither is plain.
 */
export function zonedDayWindow(instant: number, timeZone: string): DayWindow {
  const t = zonedTime(instant, timeZone);
  let day = Date.UTC(t.year, t.month - 1, t.day);
  let start = zonedMidnight(day, timeZone);
  let end = zonedMidnight(day + DAY_MS, timeZone);
  // An instant just before a boundary moved into the gap lies in the next window, or the other way.
  if (instant < start) {
    day -= DAY_MS;
    end = start;
    start = zonedMidnight(day, timeZone);
  } else if (instant >= end) {
    day += DAY_MS;
    start = end;
    end = zonedMidnight(day + DAY_MS, timeZone);
  }

  const startsAtMidnight = start + utcOffsetMs(start, timeZone) === day;
  const endsAtMidnight = end + utcOffsetMs(end, timeZone) === day + DAY_MS;
  return { start, end, plain: startsAtMidnight && endsAtMidnight && end - start === DAY_MS };
}
