import { randomBytes } from 'node:crypto';
/**
 * Run ids. A scheduled run's id is a function of the pipeline, the schedule that
 * started it and the slot, nothing else, so a restarted controller, a second
 * replica and a catch-up all compute the same id for the same slot, and Job
 * names derived from it collide instead of running a stage twice.
 *
 *   pipeline schedule   <pipeline>-<yyyyMMddHHmm>            iris-202612041530
 *   a stage's schedule  <pipeline>-<stage>-<yyyyMMddHHmm>    iris-predict-202612041530
 *   manual              <pipeline>-manual-<yyyyMMddHHmmss>   iris-manual-20261204153007
 *                       ...-<nonce> when two land in the same second
 *
 * Times are UTC. Ids are valid label values and DNS-1123 labels: lowercase
 * letters, digits and '-', at most 63 characters. A 40-character pipeline name
 * (the CRD's limit) fills 61 of them with a stage, 62 with manual; a manual id
 * with a nonce that would not fit carries the pipeline name shortened with a
 * hash of it instead.
 */
import { createHash } from 'node:crypto';

import { isStageName, type ScheduleKey } from './stages.js';

export const MAX_RUN_ID_LENGTH = 63;
export const MAX_PIPELINE_NAME_LENGTH = 40;

const PIPELINE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const NONCE = /^[a-z0-9]{1,8}$/;
const MANUAL_TAIL = /^manual-(\d{14})(?:-([a-z0-9]{1,8}))?$/;
const STAGE_TAIL = /^([a-z]+)-(\d{12})$/;
const PIPELINE_TAIL = /^(\d{12})$/;

export type RunIdParts =
  | { kind: 'scheduled'; pipeline: string; scheduleKey: ScheduleKey; scheduledAt: Date }
  | { kind: 'manual'; pipeline: string; requestedAt: Date; nonce?: string };

function checkPipelineName(pipeline: string): void {
  if (pipeline.length > MAX_PIPELINE_NAME_LENGTH || !PIPELINE_NAME.test(pipeline)) {
    throw new RangeError(
      `pipeline name "${pipeline}" must be a DNS-1123 label of at most ${MAX_PIPELINE_NAME_LENGTH} characters`,
    );
  }
}

/** yyyyMMddHHmm, or yyyyMMddHHmmss with seconds, in UTC. */
function utcStamp(at: Date, withSeconds: boolean): string {
  const year = at.getUTCFullYear();
  if (!(year >= 1000 && year <= 9999))
    throw new RangeError(`time ${String(at)} has no 4-digit year`);
  const two = (n: number) => String(n).padStart(2, '0');
  const minutes = `${year}${two(at.getUTCMonth() + 1)}${two(at.getUTCDate())}${two(at.getUTCHours())}${two(at.getUTCMinutes())}`;
  return withSeconds ? `${minutes}${two(at.getUTCSeconds())}` : minutes;
}

/** The instant a stamp names, or undefined when the digits are not a real UTC time. */
function parseStamp(digits: string): Date | undefined {
  const field = (from: number, length: number) => Number(digits.slice(from, from + length));
  const at = new Date(0);
  at.setUTCFullYear(field(0, 4), field(4, 2) - 1, field(6, 2));
  at.setUTCHours(field(8, 2), field(10, 2), digits.length === 14 ? field(12, 2) : 0);
  // Date rolls 2026-02-30 over into March; a stamp that does not read back was not real.
  if (Number.isNaN(at.getTime()) || at.getUTCFullYear() < 1000) return undefined;
  return utcStamp(at, digits.length === 14) === digits ? at : undefined;
}

/** The pipeline name as written in a manual id: shortened only when a nonce would not fit. */
function manualIdPipeline(pipeline: string, nonce: string | undefined): string {
  if (nonce === undefined) return pipeline;
  const room = MAX_RUN_ID_LENGTH - `-manual-yyyyMMddHHmmss-${nonce}`.length;
  if (pipeline.length <= room) return pipeline;
  const hash = createHash('sha256').update(pipeline).digest('hex').slice(0, 6);
  return `${pipeline.slice(0, room - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/**
 * The id of the run a schedule starts at scheduledAt, which must be a whole
 * minute (slots are). Throws RangeError on an invalid pipeline name or time.
 *
 * @example scheduledRunId('iris', 'pipeline', new Date('2026-12-04T15:30:00Z')) // 'iris-202612041530'
 */
export function scheduledRunId(
  pipeline: string,
  scheduleKey: ScheduleKey,
  scheduledAt: Date,
): string {
  checkPipelineName(pipeline);
  if (scheduledAt.getTime() % 60_000 !== 0) {
    throw new RangeError(`scheduled time ${scheduledAt.toISOString()} is not a whole minute`);
  }
  const stamp = utcStamp(scheduledAt, false);
  return scheduleKey === 'pipeline'
    ? `${pipeline}-${stamp}`
    : `${pipeline}-${scheduleKey}-${stamp}`;
}

/**
 * The id of a run started by hand at requestedAt (to the second). nonce, 1-8
 * lowercase letters or digits, tells apart runs requested in the same second;
 * the same inputs always give the same id.
 *
 * @example manualRunId('iris', new Date('2026-12-04T15:30:07.250Z'), 'b') // 'iris-manual-20261204153007-b'
 */
export function manualRunId(pipeline: string, requestedAt: Date, nonce?: string): string {
  checkPipelineName(pipeline);
  if (nonce !== undefined && !NONCE.test(nonce)) {
    throw new RangeError(`nonce "${nonce}" must be 1-8 lowercase letters or digits`);
  }
  const id = `${manualIdPipeline(pipeline, nonce)}-manual-${utcStamp(requestedAt, true)}`;
  return nonce === undefined ? id : `${id}-${nonce}`;
}

/** Reads what follows "<pipeline>-" in an id. */
function parseTail(pipeline: string, tail: string): RunIdParts | undefined {
  const manual = MANUAL_TAIL.exec(tail);
  if (manual !== null) {
    const requestedAt = parseStamp(manual[1] ?? '');
    if (requestedAt === undefined) return undefined;
    const nonce = manual[2];
    return nonce === undefined
      ? { kind: 'manual', pipeline, requestedAt }
      : { kind: 'manual', pipeline, requestedAt, nonce };
  }

  let scheduleKey: ScheduleKey;
  let stamp: string;
  const own = PIPELINE_TAIL.exec(tail);
  const staged = STAGE_TAIL.exec(tail);
  if (own?.[1] !== undefined) {
    scheduleKey = 'pipeline';
    stamp = own[1];
  } else if (staged?.[1] !== undefined && staged[2] !== undefined && isStageName(staged[1])) {
    scheduleKey = staged[1];
    stamp = staged[2];
  } else {
    return undefined;
  }

  const scheduledAt = parseStamp(stamp);
  if (scheduledAt === undefined) return undefined;
  return { kind: 'scheduled', pipeline, scheduleKey, scheduledAt };
}

/**
 * The parts of a run id, or undefined when id is not one.
 *
 * Give the pipeline when it is known: a name may itself end like a suffix
 * ("nightly-train"), and only then is "nightly-train-202612041530" read as that
 * pipeline's own schedule rather than pipeline "nightly" at stage train. Without
 * it the longest-suffix reading wins (manual, then a stage, then the pipeline),
 * and `pipeline` is the name as written in the id, possibly shortened.
 */
export function parseRunId(id: string, pipeline?: string): RunIdParts | undefined {
  if (id.length > MAX_RUN_ID_LENGTH) return undefined;

  if (pipeline !== undefined) {
    if (id.startsWith(`${pipeline}-`)) {
      const parts = parseTail(pipeline, id.slice(pipeline.length + 1));
      if (parts !== undefined) return parts;
    }
    const shortened = /^(.+)-(manual-\d{14}-([a-z0-9]{1,8}))$/.exec(id);
    if (shortened?.[1] !== undefined && shortened[1] === manualIdPipeline(pipeline, shortened[3])) {
      return parseTail(pipeline, shortened[2] ?? '');
    }
    return undefined;
  }

  const readings = [
    /^(.+)-(manual-\d{14}(?:-[a-z0-9]{1,8})?)$/,
    /^(.+)-((?:collect|clean|train|predict)-\d{12})$/,
    /^(.+)-(\d{12})$/,
  ];
  for (const reading of readings) {
    const [, name, tail] = reading.exec(id) ?? [];
    if (name === undefined || tail === undefined) continue;
    if (name.length > MAX_PIPELINE_NAME_LENGTH || !PIPELINE_NAME.test(name)) continue;
    const parts = parseTail(name, tail);
    if (parts !== undefined) return parts;
  }
  return undefined;
}

/** Four random lowercase letters or digits, to tell apart manual runs started in the same second. */
export function randomNonce(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(4), (b) => alphabet[b % alphabet.length]).join('');
}
