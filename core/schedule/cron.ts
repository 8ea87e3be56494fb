/**
 * Cron schedules: validation, parsing, and the UTC instants ("slots") a schedule
 * fires at.
 *
 * Accepted syntax is the five-field cron both runtimes understand: croner here,
 * and Kubernetes' CronJob controller in cluster mode, which carries the same
 * expression. So only numbers, the names JAN-DEC and SUN-SAT (any case), `*`,
 * lists, ranges and steps (`0-59/15`, `MON-FRI/2`, or a step after `*`), and `?`
 * in the two day fields. Rejected, with a message saying why:
 * - seconds or years (6 or 7 fields) and macros such as `@hourly`: the CRD's
 *   pattern asks for exactly five fields;
 * - croner's extensions `L`, `W`, `#`, `+`: a CronJob cannot read them;
 * - day-of-week 7 for Sunday and a step after a single value (`5/10`): croner
 *   or the CronJob would refuse or read them differently;
 * - expressions that never fire (`0 0 31 2 *`).
 *
 * Day of month and day of week: when both are restricted (neither is `*` or
 * `?`), a day matches if either matches, as in Vixie cron and Kubernetes;
 * `0 0 1 * MON` fires on the 1st and on every Monday. As in Kubernetes and
 * unlike Vixie cron, `*` with a step counts as restricted.
 *
 * Daylight saving time, as croner computes it (tests pin it for Europe/Berlin
 * and America/New_York). A "fixed-time" schedule has no `*` and no step in the
 * minute and hour fields (`30 2 * * *`, `30 2,14 * * *`); any other is an
 * "interval" schedule (`0 * * * *`, `0 0-23/2 * * *`, a step after `*`).
 * - Clocks go back, an hour repeats: a fixed-time slot in it fires once, at its
 *   first occurrence; an interval schedule fires in both passes, so an hourly
 *   schedule fires 25 times that local day and keeps one slot per real hour.
 * - Clocks go forward, an hour does not exist: a fixed-time slot in the gap
 *   fires at the first instant after it (02:30 runs at 03:00 that day); interval
 *   slots in the gap do not fire, so an hourly schedule fires 23 times that day.
 * Slots are UTC instants, so the two passes of a repeated hour have different
 * run ids and the same slot is never produced twice.
 */
import { Cron } from 'croner';

import { zonedDayWindow } from './zone.js';

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Three-letter names, in value order from min. */
  names?: readonly string[];
  /** `?` is accepted as a synonym of `*` (Quartz habit, also accepted by CronJobs). */
  question?: boolean;
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31, question: true },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 6,
    names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'],
    question: true,
  },
];

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

// Croner's L (last), W (nearest weekday), # (nth weekday) and + (AND of the day fields).
const CRONER_EXTENSION = /[#+]|^\d*L$|^\d*W$|^LW$/i;

/** The value of one token of a field, or an error message. */
function fieldValue(token: string, field: FieldSpec): number | string {
  let value: number;
  if (/^\d+$/.test(token)) {
    value = Number(token);
  } else {
    const index = field.names?.indexOf(token.toUpperCase()) ?? -1;
    if (index < 0) {
      const hint = field.names ? `, or a name such as ${field.names[1]}` : '';
      return `${field.name} "${token}" is not a number from ${field.min} to ${field.max}${hint}`;
    }
    value = field.min + index;
  }

  if (field.name === 'day-of-week' && value === 7) {
    return 'day-of-week "7": write Sunday as 0 or SUN (Kubernetes CronJobs reject 7)';
  }
  if (value < field.min || value > field.max) {
    return `${field.name} "${token}" is out of range ${field.min}-${field.max}`;
  }
  return value;
}

/** One comma-separated entry of a field: `*`, `?`, a value or range, with an optional step. */
function checkEntry(entry: string, field: FieldSpec): string | undefined {
  if (entry === '') return `${field.name}: empty entry in a list`;
  if (entry.split(/[-/]/).some((part) => CRONER_EXTENSION.test(part))) {
    return `${field.name} "${entry}": L, W, # and + are not standard cron and Kubernetes CronJobs reject them`;
  }
  if (entry === '?' && field.question) return undefined;

  const [range = '', step, ...extra] = entry.split('/');
  if (extra.length > 0) return `${field.name} "${entry}": more than one step`;

  if (step !== undefined) {
    const span = field.max - field.min + 1;
    if (!/^\d+$/.test(step) || Number(step) < 1 || Number(step) > span) {
      return `${field.name} "${entry}": the step must be a whole number from 1 to ${span}`;
    }
    if (range !== '*' && !range.includes('-')) {
      return `${field.name} "${entry}": a step needs * or a range before it, such as ${range}-${field.max}/${step}`;
    }
  }
  if (range === '*') return undefined;

  const bounds = range.split('-');
  if (bounds.length > 2) return `${field.name} "${entry}": a range has two ends`;
  const values: number[] = [];
  for (const token of bounds) {
    const value = fieldValue(token, field);
    if (typeof value === 'string') return value;
    values.push(value);
  }
  const [from = 0, to = from] = values;
  if (from > to) {
    return `${field.name} "${range}": a range must run from low to high (cron ranges do not wrap)`;
  }
  return undefined;
}

function checkFields(expression: string): string | undefined {
  const macro = MACROS[expression.toLowerCase()];
  if (expression.startsWith('@')) {
    const instead = macro === undefined ? '' : `; for ${expression} write "${macro}"`;
    return `macros such as @hourly are not accepted, write the five fields${instead}`;
  }
  if (!/^\S+(\s+\S+)*$/.test(expression)) {
    return 'must not be empty or start or end with spaces';
  }

  const fields = expression.split(/\s+/);
  if (fields.length !== FIELDS.length) {
    const extra = fields.length > FIELDS.length ? ': seconds and years are not supported' : '';
    return `expected 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}${extra}`;
  }
  for (const [i, text] of fields.entries()) {
    const field = FIELDS[i];
    if (field === undefined) continue;
    for (const entry of text.split(',')) {
      const problem = checkEntry(entry, field);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/** The croner job evaluating expression in timeZone; throws croner's error. */
function cronFor(expression: string, timeZone: string): Cron {
  return new Cron(expression.split(/\s+/).join(' '), {
    mode: '5-part',
    timezone: timeZone,
    // Vixie cron's OR of day-of-month and day-of-week, as Kubernetes does.
    domAndDow: false,
    // Lists and ranges of fixed times (30 2,14 * * *) fire once when an hour
    // repeats, like single times, which is what "at 02:30 and 14:30" means.
    fixedTimeRule: 'no-wildcard',
    // No function is given, so croner starts no timer; paused says so twice.
    paused: true,
  });
}

/**
 * Why expression is not an accepted five-field cron schedule, or undefined when
 * it is. The message names the field at fault and has no prefix, so a caller
 * can put the path in front (`spec.stages.train.schedule: ...`).
 */
export function validateCron(expression: string): string | undefined {
  const problem = checkFields(expression);
  if (problem !== undefined) return problem;

  let cron: Cron;
  try {
    cron = cronFor(expression, 'Etc/UTC');
  } catch (error) {
    return `not a valid cron expression (${(error as Error).message})`;
  }
  // Leap days: a 29 February schedule finds its date within eight years.
  if (cron.nextRun(new Date(Date.UTC(2000, 0, 1))) === null) {
    return 'never fires: no date matches its day-of-month and month';
  }
  return undefined;
}

/**
 * Why timeZone is not a usable IANA time zone name, or undefined when it is.
 * Names are case-sensitive: Kubernetes looks them up as files, so
 * "europe/berlin", which Intl would accept, is refused with a suggestion.
 */
export function validateTimeZone(timeZone: string): string | undefined {
  let canonical: string;
  try {
    canonical = new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return `unknown IANA time zone "${timeZone}"`;
  }

  const startsLowercase = timeZone.split('/').some((part) => !/^[A-Z]/.test(part));
  const caseDiffers = canonical !== timeZone && canonical.toLowerCase() === timeZone.toLowerCase();
  if (startsLowercase || caseDiffers) {
    return `unknown IANA time zone "${timeZone}" (names are case-sensitive; did you mean "${canonical}"?)`;
  }
  return undefined;
}

/** A validated cron expression read in a time zone. Build one with parseSchedule. */
export class Schedule {
  readonly #cron: Cron;

  /** Throws an Error whose message starts with "schedule:" or "timeZone:". */
  constructor(
    readonly expression: string,
    readonly timeZone: string,
  ) {
    const cronProblem = validateCron(expression);
    if (cronProblem !== undefined) throw new Error(`schedule: ${cronProblem}`);
    const zoneProblem = validateTimeZone(timeZone);
    if (zoneProblem !== undefined) throw new Error(`timeZone: ${zoneProblem}`);
    this.#cron = cronFor(expression, timeZone);
  }

  /** The first slot strictly after instant (ms since the epoch). */
  slotAfter(instant: number): Date | undefined {
    return this.#cron.nextRun(new Date(instant)) ?? undefined;
  }

  /** The last slot strictly before instant (ms since the epoch). */
  slotBefore(instant: number): Date | undefined {
    // croner counts a run earlier in the reference's own second, never one at it.
    return this.#cron.previousRuns(1, new Date(instant))[0];
  }
}

/** Parses and validates; throws "schedule: ..." or "timeZone: unknown IANA time zone ...". */
export function parseSchedule(expression: string, timeZone: string): Schedule {
  return new Schedule(expression, timeZone);
}

/** The next count slots strictly after `after`, oldest first, as UTC minute instants. */
export function nextSlots(schedule: Schedule, after: Date, count: number): Date[] {
  return slotsBetween(schedule, after, new Date(8.64e15), count);
}

/** The first (oldest) max slots in (fromExclusive, toInclusive], oldest first. */
export function slotsBetween(
  schedule: Schedule,
  fromExclusive: Date,
  toInclusive: Date,
  max: number,
): Date[] {
  const slots: Date[] = [];
  let cursor = fromExclusive.getTime();
  while (slots.length < max) {
    const slot = schedule.slotAfter(cursor);
    if (slot === undefined || slot.getTime() > toInclusive.getTime()) break;
    slots.push(slot);
    cursor = slot.getTime();
  }
  return slots;
}

/** The last (newest) max slots in (fromExclusive, toInclusive], oldest first. */
export function latestSlotsBetween(
  schedule: Schedule,
  fromExclusive: Date,
  toInclusive: Date,
  max: number,
): Date[] {
  const slots: Date[] = [];
  let cursor = toInclusive.getTime() + 1;
  while (slots.length < max) {
    const slot = schedule.slotBefore(cursor);
    if (slot === undefined || slot.getTime() <= fromExclusive.getTime()) break;
    slots.push(slot);
    cursor = slot.getTime();
  }
  return slots.reverse();
}

/**
 * How many slots lie in (fromExclusive, toInclusive], without visiting each:
 * a local day with no clock change holds the same number of slots as any
 * other such day that matches at all, so whole plain days are counted in one
 * step and only partial days and days with a clock change slot by slot. A year
 * of a two-minute schedule costs a few hundred croner calls, not 262,800.
 */
export function countSlotsBetween(
  schedule: Schedule,
  fromExclusive: Date,
  toInclusive: Date,
): number {
  const to = toInclusive.getTime();
  let cursor = fromExclusive.getTime();
  let count = 0;
  let perPlainDay: number | undefined;

  for (;;) {
    const slot = schedule.slotAfter(cursor)?.getTime();
    if (slot === undefined || slot > to) return count;

    const day = zonedDayWindow(slot, schedule.timeZone);
    const wholeDayInRange =
      day.plain && day.start > cursor && day.end - 1 <= to && slot >= day.start && slot < day.end;
    if (wholeDayInRange) {
      perPlainDay ??= slotsBetween(
        schedule,
        new Date(day.start - 1),
        new Date(day.end - 1),
        Infinity,
      ).length;
      count += perPlainDay;
      cursor = day.end - 1;
    } else {
      count += 1;
      cursor = slot;
    }
  }
}
