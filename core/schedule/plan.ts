/**
 * The scheduler's decisions, as pure functions of what it knows: which slots
 * are due, which were missed and what becomes of them, what to do when a run
 * is due while others still run, how long to wait before retrying a stage.
 * The Kubernetes controller and the single-container scheduler both call these
 * and only carry out the answer.
 */
import type { RunTrigger, StageName } from '../ports.js';
import {
  countSlotsBetween,
  latestSlotsBetween,
  nextSlots,
  parseSchedule,
  slotsBetween,
  type Schedule,
} from './cron.js';
import { scheduledRunId } from './run-id.js';
import type { ScheduleKey } from './stages.js';

export type MissedRunsPolicy = 'Skip' | 'RunLatest' | 'RunAll';
export type ConcurrencyPolicy = 'Allow' | 'Forbid' | 'Replace';

/**
 * Missed slots listed one by one, on top of missedRuns.limit. Older ones (a
 * scheduler down for a year on a two-minute schedule misses 262,800) become one
 * skipped entry with their count, so a plan, and the status it is written to,
 * stays small whatever the outage.
 */
export const MAX_LISTED_MISSED_SLOTS = 1000;

export interface PlanInput {
  pipeline: string;
  scheduleKey: ScheduleKey;
  startStage: StageName;
  /** Five-field cron expression. */
  schedule: string;
  timeZone: string;
  now: Date;
  /** The newest slot already handled (run or skipped) for this schedule key. */
  lastScheduleTime: Date | undefined;
  startingDeadlineSeconds: number;
  missedRuns: { policy: MissedRunsPolicy; limit: number };
  /** When the pipeline was created: on a first start, no slot before it runs. */
  createdAt?: Date;
}

export interface DueRun {
  runId: string;
  scheduledAt: Date;
  trigger: Exclude<RunTrigger, 'manual'>;
  startStage: StageName;
}

export interface SkippedSlot {
  /** For an entry summarising several slots, the oldest one's. */
  runId: string;
  scheduledAt: Date;
  reason: string;
  /** How many slots the entry stands for: 1, or more for the summary of the oldest. */
  count: number;
}

export interface RunPlan {
  /** Oldest first. */
  run: DueRun[];
  /** Oldest first. */
  skipped: SkippedSlot[];
  /** To store for the next plan, even when nothing runs. */
  newLastScheduleTime: Date | undefined;
  /** The first slot after now (and after lastScheduleTime). */
  nextRunAt: Date;
}

function checkInput(input: PlanInput): void {
  const { startingDeadlineSeconds, missedRuns } = input;
  if (!Number.isFinite(startingDeadlineSeconds) || startingDeadlineSeconds < 0) {
    throw new RangeError(
      `startingDeadlineSeconds must be 0 or more, got ${startingDeadlineSeconds}`,
    );
  }
  if (!Number.isInteger(missedRuns.limit) || missedRuns.limit < 1) {
    throw new RangeError(`missedRuns.limit must be a whole number from 1, got ${missedRuns.limit}`);
  }
  for (const [name, at] of [
    ['now', input.now],
    ['lastScheduleTime', input.lastScheduleTime],
    ['createdAt', input.createdAt],
  ] as const) {
    if (at !== undefined && Number.isNaN(at.getTime()))
      throw new RangeError(`${name} is not a valid date`);
  }
}

function nextSlotAfter(schedule: Schedule, instant: Date): Date {
  const [next] = nextSlots(schedule, instant, 1);
  // A validated schedule fires again within a few years; only year 275760 ends it.
  if (next === undefined)
    throw new RangeError(`schedule "${schedule.expression}" never fires again`);
  return next;
}

/**
 * Which slots of one schedule start a run now, and which are recorded as skipped.
 *
 * Slots considered are those strictly after lastScheduleTime up to now. The
 * newest is on time when it is at most startingDeadlineSeconds old and then
 * always runs, trigger 'schedule'. The others are missed, and missedRuns.policy
 * decides:
 * - Skip: all are skipped.
 * - RunLatest: the newest missed one runs as 'catch-up' unless a slot is on
 *   time; the rest are skipped.
 * - RunAll: the newest `limit` run as 'catch-up', oldest first; the rest are
 *   skipped.
 * Missed slots are never dropped: each is in `skipped` with the reason, except
 * beyond MAX_LISTED_MISSED_SLOTS + limit, where the oldest share one entry.
 *
 * With no lastScheduleTime (the schedule is seen for the first time) nothing
 * counts as missed: only the newest slot (after createdAt, if given) may run,
 * if it is on time. It becomes newLastScheduleTime either way, so a later
 * outage is measured from it.
 */
export function planDueRuns(input: PlanInput): RunPlan {
  checkInput(input);
  const schedule = parseSchedule(input.schedule, input.timeZone);
  const { now, lastScheduleTime } = input;
  const deadlineMs = input.startingDeadlineSeconds * 1000;
  const toDueRun = (scheduledAt: Date, trigger: DueRun['trigger']): DueRun => ({
    runId: scheduledRunId(input.pipeline, input.scheduleKey, scheduledAt),
    scheduledAt,
    trigger,
    startStage: input.startStage,
  });
  const isOnTime = (slot: Date) => now.getTime() - slot.getTime() <= deadlineMs;

  const latestHandled =
    lastScheduleTime !== undefined && lastScheduleTime > now ? lastScheduleTime : now;
  const nextRunAt = nextSlotAfter(schedule, latestHandled);

  // First start: only the newest slot matters.
  if (lastScheduleTime === undefined) {
    const newest = input.createdAt
      ? latestSlotsBetween(schedule, input.createdAt, now, 1)[0]
      : schedule.slotBefore(now.getTime() + 1);
    const run = newest !== undefined && isOnTime(newest) ? [toDueRun(newest, 'schedule')] : [];
    return { run, skipped: [], newLastScheduleTime: newest, nextRunAt };
  }

  // Gather the slots since the last one handled, the newest ones when there are too many.
  const cap = input.missedRuns.limit + MAX_LISTED_MISSED_SLOTS;
  let slots = slotsBetween(schedule, lastScheduleTime, now, cap + 1);
  let unlisted: { first: Date; last: Date; count: number } | undefined;
  if (slots.length > cap) {
    const first = slots[0];
    slots = latestSlotsBetween(schedule, lastScheduleTime, now, cap);
    const beforeListed = new Date((slots[0]?.getTime() ?? now.getTime()) - 1);
    const last = latestSlotsBetween(schedule, lastScheduleTime, beforeListed, 1)[0];
    const count = countSlotsBetween(schedule, lastScheduleTime, beforeListed);
    if (first !== undefined && last !== undefined) unlisted = { first, last, count };
  }

  const newest = slots.at(-1);
  if (newest === undefined) {
    return { run: [], skipped: [], newLastScheduleTime: lastScheduleTime, nextRunAt };
  }

  // Split into the on-time slot and the missed ones, then apply the policy.
  const onTime = isOnTime(newest) ? newest : undefined;
  const missed = onTime ? slots.slice(0, -1) : slots;
  const late = `not started within startingDeadlineSeconds (${input.startingDeadlineSeconds}s) of its slot`;
  let catchUp: Date[];
  let reason: string;
  switch (input.missedRuns.policy) {
    case 'Skip':
      catchUp = [];
      reason = `${late}; missedRuns.policy is Skip`;
      break;
    case 'RunLatest':
      // Without an on-time slot the newest slot is the latest missed one.
      catchUp = onTime ? [] : missed.slice(-1);
      reason = `${late}; missedRuns.policy is RunLatest and the slot of ${newest.toISOString()} runs instead`;
      break;
    case 'RunAll':
      catchUp = missed.slice(-input.missedRuns.limit);
      reason = `${late}; missedRuns.policy is RunAll and only the latest ${input.missedRuns.limit} missed slots run`;
      break;
  }

  const skipped: SkippedSlot[] = missed.slice(0, missed.length - catchUp.length).map((slot) => ({
    runId: scheduledRunId(input.pipeline, input.scheduleKey, slot),
    scheduledAt: slot,
    reason,
    count: 1,
  }));
  if (unlisted !== undefined) {
    const { first, last, count } = unlisted;
    skipped.unshift({
      runId: scheduledRunId(input.pipeline, input.scheduleKey, first),
      scheduledAt: first,
      reason: `${count} slots from ${first.toISOString()} to ${last.toISOString()}, too many to list one by one: ${reason}`,
      count,
    });
  }
  const run = catchUp.map((slot) => toDueRun(slot, 'catch-up'));
  if (onTime) run.push(toDueRun(onTime, 'schedule'));

  return { run, skipped, newLastScheduleTime: newest, nextRunAt };
}

export type ConcurrencyDecision =
  | { action: 'start' }
  | { action: 'skip'; reason: string }
  | { action: 'replace'; cancel: string[] };

/**
 * What to do with a run that is due while activeRunIds (this pipeline's runs
 * still in progress) have not finished: Allow starts it alongside, Forbid skips
 * it, Replace cancels them and starts it.
 */
export function decideConcurrency(
  policy: ConcurrencyPolicy,
  activeRunIds: readonly string[],
): ConcurrencyDecision {
  const active = [...new Set(activeRunIds)];
  if (active.length === 0 || policy === 'Allow') return { action: 'start' };
  if (policy === 'Replace') return { action: 'replace', cancel: active };
  const which = active.length === 1 ? `run ${active[0]} is` : `runs ${active.join(', ')} are`;
  return { action: 'skip', reason: `${which} still running and concurrencyPolicy is Forbid` };
}

export interface RetryBackoff {
  /** Wait before the first retry. */
  baseMs: number;
  /** The longest wait. */
  capMs: number;
}

export const DEFAULT_RETRY_BACKOFF: RetryBackoff = { baseMs: 1000, capMs: 60_000 };

/** How long to wait before a retry; the stage runner takes one, so tests pass () => 0. */
export type RetryDelay = (attempt: number) => number;

/**
 * Wait before retry number attempt (1 for the first retry) of a failed stage:
 * base, doubling each time, capped (1s, 2s, 4s, ... 60s). No jitter: retries
 * are per run and stage, few and already spread by the schedule.
 */
export function retryDelayMs(
  attempt: number,
  backoff: RetryBackoff = DEFAULT_RETRY_BACKOFF,
): number {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(`retry attempt must be a whole number from 1, got ${attempt}`);
  }
  return Math.min(backoff.capMs, backoff.baseMs * 2 ** (attempt - 1));
}
