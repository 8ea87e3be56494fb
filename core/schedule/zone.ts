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
 * The instant the wall clock reads 00:00 on the given date, or an instant next
 * to it when midnight falls in a gap (zones that change clocks at midnight).
 * Day windows are built from this one function, so they tile the timeline with
 * no overlap and no hole whatever it returns.
 */
function zonedMidnight(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
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

/** The local calendar day that contains instant, as a window of UTC instants. */
export function zonedDayWindow(instant: number, timeZone: string): DayWindow {
  const t = zonedTime(instant, timeZone);
  const start = zonedMidnight(t.year, t.month, t.day, timeZone);
  const end = zonedMidnight(t.year, t.month, t.day + 1, timeZone);
  const startsAtMidnight =
    start + utcOffsetMs(start, timeZone) === Date.UTC(t.year, t.month - 1, t.day);
  const endsAtMidnight =
    end + utcOffsetMs(end, timeZone) === Date.UTC(t.year, t.month - 1, t.day + 1);
  return { start, end, plain: startsAtMidnight && endsAtMidnight && end - start === DAY_MS };
}
