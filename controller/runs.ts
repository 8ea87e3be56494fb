/**
 * Runs as they exist in the cluster: a pipeline's Jobs, grouped by the run id
 * label. Status, chaining, concurrency and history pruning all read runs from
 * here, so they agree on what a run's phase is.
 */
import type { V1Job } from '@kubernetes/client-node';

import type { RunPhase, StageName, StagePhase } from '../core/ports.js';
import { isStageName, parseRunId, STAGE_ORDER } from '../core/schedule/index.js';
import { LABEL_PIPELINE, LABEL_RUN_ID, LABEL_STAGE } from './names.js';

export interface JobIdentity {
  pipeline: string;
  stage: StageName;
  runId: string;
}

/** What a Job is, from its labels; undefined for a Job that is not one of ours. */
export function jobIdentity(job: V1Job): JobIdentity | undefined {
  const labels = job.metadata?.labels ?? {};
  const pipeline = labels[LABEL_PIPELINE];
  const stage = labels[LABEL_STAGE];
  const runId = labels[LABEL_RUN_ID];
  if (!pipeline || !runId || stage === undefined || !isStageName(stage)) return undefined;
  return { pipeline, stage, runId };
}

function hasCondition(job: V1Job, type: string): boolean {
  return (job.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/**
 * A Job's phase. SuccessCriteriaMet and FailureTarget come before Complete and
 * Failed, while the Job controller still waits for pods to stop, and already
 * decide the outcome.
 */
export function jobPhase(job: V1Job): StagePhase {
  if (hasCondition(job, 'Complete') || hasCondition(job, 'SuccessCriteriaMet')) return 'Succeeded';
  if (hasCondition(job, 'Failed') || hasCondition(job, 'FailureTarget')) return 'Failed';
  if ((job.status?.active ?? 0) > 0 || job.status?.startTime !== undefined) return 'Running';
  return 'Pending';
}

/** A time from client-node: a Date from an API call, a string from a watch. */
export function isoTime(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const at = value instanceof Date ? value : new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

export interface ObservedRun {
  runId: string;
  /** The slot for a scheduled run, the request time for a manual one; from the id. */
  startedFor?: Date;
  /** The stage the run started at: its schedule's, or its earliest Job's. */
  startStage: StageName;
  jobs: Partial<Record<StageName, V1Job>>;
  phase: RunPhase;
}

function runPhase(jobs: Partial<Record<StageName, V1Job>>): RunPhase {
  const phases = STAGE_ORDER.flatMap((stage) => {
    const job = jobs[stage];
    return job === undefined ? [] : [jobPhase(job)];
  });
  if (phases.includes('Failed')) return 'Failed';
  // Only predict's success ends a run: a run between two stages is still running.
  if (jobs.predict !== undefined && phases.at(-1) === 'Succeeded') return 'Succeeded';
  if (phases.every((phase) => phase === 'Pending')) return 'Pending';
  return 'Running';
}

function sortTime(run: ObservedRun): number {
  if (run.startedFor !== undefined) return run.startedFor.getTime();
  const created = Object.values(run.jobs).map((job) =>
    new Date(job.metadata?.creationTimestamp ?? 0).getTime(),
  );
  return Math.min(...created);
}

/** The pipeline's runs, newest first; Jobs of other pipelines or without our labels are ignored. */
export function observedRuns(pipeline: string, jobs: readonly V1Job[]): ObservedRun[] {
  const byRun = new Map<string, Partial<Record<StageName, V1Job>>>();
  for (const job of jobs) {
    const identity = jobIdentity(job);
    if (identity === undefined || identity.pipeline !== pipeline) continue;
    const stages = byRun.get(identity.runId) ?? {};
    stages[identity.stage] = job;
    byRun.set(identity.runId, stages);
  }

  const runs = [...byRun].map(([runId, stageJobs]): ObservedRun => {
    const parts = parseRunId(runId, pipeline);
    const earliest = STAGE_ORDER.find((stage) => stageJobs[stage] !== undefined) ?? 'collect';
    let startedFor: Date | undefined;
    let startStage = earliest;
    if (parts?.kind === 'scheduled') {
      startedFor = parts.scheduledAt;
      startStage = parts.scheduleKey === 'pipeline' ? 'collect' : parts.scheduleKey;
    } else if (parts?.kind === 'manual') {
      startedFor = parts.requestedAt;
    }
    return { runId, startedFor, startStage, jobs: stageJobs, phase: runPhase(stageJobs) };
  });

  return runs.sort(
    (a, b) => sortTime(b) - sortTime(a) || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0),
  );
}

/** Ids of runs not yet finished, for the concurrency policy. */
export function activeRunIds(runs: readonly ObservedRun[]): string[] {
  return runs
    .filter((run) => run.phase === 'Running' || run.phase === 'Pending')
    .map((run) => run.runId);
}

/**
 * Jobs of finished runs beyond the newest historyLimit runs. Whole runs go,
 * never some of a run's stages, so a run in status is always complete; a run
 * still going is never pruned.
 */
export function jobsToPrune(runs: readonly ObservedRun[], historyLimit: number): V1Job[] {
  return runs
    .slice(historyLimit)
    .filter((run) => run.phase === 'Succeeded' || run.phase === 'Failed')
    .flatMap((run) => STAGE_ORDER.flatMap((stage) => run.jobs[stage] ?? []));
}
