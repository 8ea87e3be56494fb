/**
 * The stage graph: a straight line, collect -> clean -> train -> predict. A run
 * starts at one stage and continues downstream until a stage fails or predict
 * is done.
 */
import { STAGES, type StageName } from '../ports.js';

export const STAGE_ORDER: readonly StageName[] = STAGES;

/** The CRD's default for spec.timeZone. */
export const DEFAULT_TIME_ZONE = 'Etc/UTC';

/** What starts runs: the pipeline's own schedule, or a stage's. */
export type ScheduleKey = 'pipeline' | StageName;

/** The fields of MLPipeline.spec that decide when runs start. */
export interface ScheduleSpec {
  schedule: string;
  timeZone?: string;
  stages?: Partial<Record<StageName, { schedule?: string }>>;
}

/** One schedule that starts runs, and where those runs start. */
export interface ScheduleSource {
  key: ScheduleKey;
  startStage: StageName;
  schedule: string;
  timeZone: string;
}

function indexOfStage(stage: StageName): number {
  const index = STAGE_ORDER.indexOf(stage);
  // Stage names also arrive from labels and environment variables, unchecked.
  if (index < 0) throw new RangeError(`unknown stage "${String(stage)}"`);
  return index;
}

export function isStageName(value: string): value is StageName {
  return (STAGE_ORDER as readonly string[]).includes(value);
}

/** The stage after stage, or undefined after the last one. */
export function nextStage(stage: StageName): StageName | undefined {
  return STAGE_ORDER[indexOfStage(stage) + 1];
}

/** start and every stage after it, in order. */
export function stagesFrom(start: StageName): StageName[] {
  return STAGE_ORDER.slice(indexOfStage(start));
}

/** The pipeline's schedule starts at collect; a stage's own schedule starts at that stage. */
export function startStageOf(key: ScheduleKey): StageName {
  return key === 'pipeline' ? 'collect' : key;
}

/**
 * Every schedule that starts runs: the pipeline's first, then each stage with
 * a schedule of its own, in stage order. All are read in the pipeline's time
 * zone. A collect schedule is kept apart from the pipeline's although both
 * start at collect: they are separate slots with separate run ids.
 */
export function scheduleKeys(spec: ScheduleSpec): ScheduleSource[] {
  const timeZone = spec.timeZone ?? DEFAULT_TIME_ZONE;
  const sources: ScheduleSource[] = [
    { key: 'pipeline', startStage: 'collect', schedule: spec.schedule, timeZone },
  ];
  for (const stage of STAGE_ORDER) {
    const schedule = spec.stages?.[stage]?.schedule;
    if (schedule !== undefined) sources.push({ key: stage, startStage: stage, schedule, timeZone });
  }
  return sources;
}
