/**
 * What the API shows of an MLPipeline in a cluster, as pure functions of the
 * resource (its spec and the status the controller writes) and of the Jobs
 * carrying the controller's labels. The status is the record of runs: the
 * controller rebuilds it from the Jobs and pods on every pass, and keeps the
 * skipped slots, which leave no Job behind.
 */
import type { V1Job } from '@kubernetes/client-node';

import type { MLPipelineResource } from '../../controller/kube.js';
import { ANNOTATION_RUN_NOW, runNowRunId } from '../../controller/names.js';
import { jobIdentity } from '../../controller/runs.js';
import type { RunStatus, StageRunStatus } from '../../controller/status.js';
import type { RunRecord, RunTrigger, StageName, StageRecord } from '../../core/ports.js';
import { parseRunId, stagesFrom } from '../../core/schedule/index.js';
import type { PipelineChange, PipelineSummary } from '../server/service.js';
import type { RunFigures } from './stage-figures.js';

const ACTIVE_PHASES: ReadonlySet<string> = new Set(['Pending', 'Running']);

export function pipelineName(resource: MLPipelineResource): string {
  return resource.metadata.name ?? '';
}

/**
 * The run a run-now annotation asks for while the controller has not acted
 * on it yet: shown at once as Pending, so a user who pressed "run now" sees
 * the run before the controller's next pass writes it into status.
 */
export function requestedRun(resource: MLPipelineResource): RunRecord | undefined {
  const value = resource.metadata.annotations?.[ANNOTATION_RUN_NOW];
  if (value === undefined || value === resource.status?.handledRunNow) return undefined;
  const name = pipelineName(resource);
  const runId = runNowRunId(name, value);
  if (runId === undefined) return undefined;
  if (resource.status?.recentRuns?.some((run) => run.id === runId)) return undefined;
  const requestedAt = parseRunId(runId, name);
  return {
    pipeline: name,
    runId,
    trigger: 'manual',
    startStage: 'collect',
    phase: 'Pending',
    startedAt:
      requestedAt?.kind === 'manual' ? requestedAt.requestedAt.toISOString() : value.trim(),
    stages: stagesFrom('collect').map((stage) => ({ stage, phase: 'Pending', attempts: 0 })),
  };
}

/**
 * Why a run cannot be asked for now, in words for the page, or undefined
 * when it can: the controller would refuse a suspended pipeline's request,
 * or skip it while a run goes on under concurrencyPolicy Forbid; and a
 * request not yet acted on would be lost if overwritten.
 */
export function runNowRefusal(resource: MLPipelineResource): string | undefined {
  const name = pipelineName(resource);
  if (resource.spec.suspend) return `pipeline ${name} is suspended: resume it to start a run`;
  const waiting = requestedRun(resource);
  if (waiting !== undefined) {
    return `run ${waiting.runId} was asked for and the controller has not started it yet; wait for it`;
  }
  const active = activeRunIds(resource);
  if (resource.spec.concurrencyPolicy === 'Forbid' && active.length > 0) {
    return `run ${active[0]} is still going and concurrencyPolicy is Forbid; wait for it to finish`;
  }
  return undefined;
}

/** Pods a stage's Job started so far: every attempt, by the Job's own counters. */
function attemptsOf(job: V1Job | undefined): number {
  const s = job?.status;
  return (s?.active ?? 0) + (s?.succeeded ?? 0) + (s?.failed ?? 0);
}

function triggerOf(runId: string, pipeline: string): RunTrigger {
  return parseRunId(runId, pipeline)?.kind === 'scheduled' ? 'schedule' : 'manual';
}

function stageRecord(stage: StageRunStatus, job: V1Job | undefined): StageRecord {
  const record: StageRecord = { stage: stage.stage, phase: stage.phase, attempts: attemptsOf(job) };
  if (stage.startTime !== undefined) record.startedAt = stage.startTime;
  if (stage.completionTime !== undefined) record.finishedAt = stage.completionTime;
  if (stage.message !== undefined) record.message = stage.message;
  if (stage.jobName !== undefined) record.summary = { jobName: stage.jobName };
  return record;
}

/**
 * A run of the status as the API's run record. `jobs` are the pipeline's
 * Jobs; they add the attempts of each stage, which the status does not keep.
 * A run not started yet has no start time of its own: its slot or request
 * time stands in.
 */
export function runRecord(pipeline: string, run: RunStatus, jobs: readonly V1Job[]): RunRecord {
  const ofRun = new Map<StageName, V1Job>();
  for (const job of jobs) {
    const identity = jobIdentity(job);
    if (identity?.pipeline === pipeline && identity.runId === run.id)
      ofRun.set(identity.stage, job);
  }
  const parts = parseRunId(run.id, pipeline);
  const requestedAt = parts?.kind === 'manual' ? parts.requestedAt.toISOString() : undefined;
  const record: RunRecord = {
    pipeline,
    runId: run.id,
    trigger: triggerOf(run.id, pipeline),
    startStage: run.stages[0]?.stage ?? 'collect',
    phase: run.phase,
    startedAt: run.startTime ?? run.scheduledAt ?? requestedAt ?? '',
    stages: run.stages.map((stage) => stageRecord(stage, ofRun.get(stage.stage))),
  };
  if (run.scheduledAt !== undefined) record.scheduledAt = run.scheduledAt;
  if (run.completionTime !== undefined) record.finishedAt = run.completionTime;
  else if (run.phase === 'Skipped' && run.scheduledAt !== undefined)
    record.finishedAt = run.scheduledAt;
  if (run.message !== undefined) record.message = run.message;
  return record;
}

/** The run with each stage's figures under what its summary already says. */
export function withStageFigures(run: RunRecord, figures: RunFigures): RunRecord {
  return {
    ...run,
    stages: run.stages.map((stage) => {
      const found = stage.phase === 'Succeeded' ? figures[stage.stage] : undefined;
      return found === undefined ? stage : { ...stage, summary: { ...found, ...stage.summary } };
    }),
  };
}

/** Newest first: a run-now request not yet acted on, then the status's runs. */
export function runRecords(resource: MLPipelineResource, jobs: readonly V1Job[]): RunRecord[] {
  const name = pipelineName(resource);
  const requested = requestedRun(resource);
  const recorded = (resource.status?.recentRuns ?? []).map((run) => runRecord(name, run, jobs));
  return requested === undefined ? recorded : [requested, ...recorded];
}

export function activeRunIds(resource: MLPipelineResource): string[] {
  return runRecords(resource, [])
    .filter((run) => ACTIVE_PHASES.has(run.phase))
    .map((run) => run.runId);
}

/**
 * The list view's line for a pipeline, from its status alone, so listing
 * many pipelines costs one request. The status keeps the time the current
 * version was trained, not when it was promoted: the promotion follows the
 * training within the same train stage, so the training time stands in.
 */
export function pipelineSummary(resource: MLPipelineResource): PipelineSummary {
  const { spec, status } = resource;
  const summary: PipelineSummary = {
    name: pipelineName(resource),
    schedule: spec.schedule,
    timeZone: spec.timeZone,
    suspended: spec.suspend === true,
  };
  if (status?.nextScheduleTime !== undefined && !spec.suspend)
    summary.nextRunAt = status.nextScheduleTime;

  const runs = runRecords(resource, []);
  const last = runs.find((run) => run.phase !== 'Skipped') ?? runs[0];
  if (last !== undefined) {
    summary.lastRun = { runId: last.runId, phase: last.phase, startedAt: last.startedAt };
    if (last.finishedAt !== undefined) summary.lastRun.finishedAt = last.finishedAt;
    if (last.message !== undefined) summary.lastRun.message = last.message;
  }

  const model = status?.currentModel;
  if (model !== undefined) {
    summary.currentModel = {
      version: model.version,
      accuracy: model.metrics.accuracy ?? model.accuracy ?? NaN,
      macroF1: model.metrics.macroF1 ?? NaN,
      promotedAt: model.trainedAt,
    };
  }
  return summary;
}

/**
 * What changed between two readings of a pipeline, as hints for the views:
 * settings (spec, conditions), each run whose record moved, and the current
 * model. A pipeline that appeared or went away is a settings change.
 */
export function pipelineChanges(
  before: MLPipelineResource | undefined,
  after: MLPipelineResource | undefined,
): PipelineChange[] {
  const resource = after ?? before;
  if (resource === undefined) return [];
  const pipeline = pipelineName(resource);
  if (before === undefined || after === undefined) return [{ pipeline, kind: 'pipeline' }];

  const changes: PipelineChange[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (
    !same(before.spec, after.spec) ||
    !same(before.status?.conditions, after.status?.conditions) ||
    !same(before.status?.nextScheduleTime, after.status?.nextScheduleTime)
  ) {
    changes.push({ pipeline, kind: 'pipeline' });
  }

  const runsBefore = new Map(runRecords(before, []).map((run) => [run.runId, run]));
  for (const run of runRecords(after, [])) {
    if (!same(runsBefore.get(run.runId), run))
      changes.push({ pipeline, kind: 'run', runId: run.runId });
  }

  if (!same(before.status?.currentModel, after.status?.currentModel))
    changes.push({ pipeline, kind: 'model' });
  return changes;
}

/** A stage Job moved: its run's view may show a new phase before the status says so. */
export function jobChange(job: V1Job): PipelineChange | undefined {
  const identity = jobIdentity(job);
  if (identity === undefined) return undefined;
  return { pipeline: identity.pipeline, kind: 'run', runId: identity.runId };
}
