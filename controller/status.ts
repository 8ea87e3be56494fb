/**
 * MLPipeline status, rebuilt on every pass from what exists (the pipeline's
 * Jobs, CronJobs and ConfigMap, the model store's pointer) plus what only the
 * status remembers: the last slot handled per schedule and the skipped slots,
 * which leave no Job behind. The previous status is read for that memory and
 * for lastTransitionTime, which moves only when a condition's status flips.
 */
import type { V1ConfigMap, V1CronJob, V1Job, V1Pod } from '@kubernetes/client-node';

import type { RunPhase, StageName, StagePhase } from '../core/ports.js';
import { parseRunId, STAGE_ORDER, stagesFrom, type SkippedSlot } from '../core/schedule/index.js';
import type { SpecProblem } from '../core/spec/validate.js';
import { isOwnedBy, type PipelineObject } from './desired.js';
import { sameJson } from './json.js';
import { configMapName, cronJobName } from './names.js';
import { Reason } from './reasons.js';
import {
  isoTime,
  jobPhase,
  jobPods,
  observedRuns,
  podFinishedAt,
  succeededPod,
  type JobPods,
  type ObservedRun,
} from './runs.js';

export type ConditionType = 'Ready' | 'Suspended' | 'Degraded' | 'ModelPromoted';
export const CONDITION_TYPES: readonly ConditionType[] = [
  'Ready',
  'Suspended',
  'Degraded',
  'ModelPromoted',
];

export interface Condition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: Reason;
  message: string;
  observedGeneration: number;
  /** ISO 8601; moves only when status flips. */
  lastTransitionTime: string;
}

export interface StageRunStatus {
  stage: StageName;
  phase: StagePhase;
  startTime?: string;
  completionTime?: string;
  /** Why a stage failed, with its pod's reason; why it did not run. */
  message?: string;
  /** Set once the Job exists. */
  jobName?: string;
  /**
   * While the stage's pod cannot start its container: the kubelet's reason,
   * such as CreateContainerConfigError (a missing Secret) or ImagePullBackOff.
   */
  waiting?: string;
}

export interface RunStatus {
  id: string;
  phase: RunPhase;
  /** The slot of a scheduled run, ISO 8601 UTC. */
  scheduledAt?: string;
  startTime?: string;
  completionTime?: string;
  message?: string;
  stages: StageRunStatus[];
}

export interface ModelStatus {
  version: string;
  /** Figures only: no confusion matrix, no rows. */
  metrics: Record<string, number>;
  /** metrics.accuracy again, where the printer column reads it. */
  accuracy?: number;
  trainedAt: string;
  location: string;
}

export interface PredictionsStatus {
  runId: string;
  /** Rows written to the sink. */
  rows: number;
  /** When they were scored, ISO 8601. */
  time: string;
  table?: string;
  modelVersion?: string;
}

export interface MLPipelineStatus {
  observedGeneration: number;
  conditions: Condition[];
  /** The newest slot handled, run or skipped, over all schedules. */
  lastScheduleTime?: string;
  nextScheduleTime?: string;
  /** The newest slot handled per schedule key ('pipeline' or a stage): the planner's memory. */
  lastScheduleTimes?: Record<string, string>;
  lastRun?: { id: string; phase: RunPhase };
  /** Newest first, at most spec.historyLimit; skipped slots are runs with phase Skipped. */
  recentRuns: RunStatus[];
  currentModel?: ModelStatus;
  lastPredictions?: PredictionsStatus;
  /**
   * The mlpipeline.dev/run-now value last acted on: a value is acted on once,
   * even after its run's Jobs are pruned.
   */
  handledRunNow?: string;
}

/**
 * The status as stored, made safe to build on. The status subresource has no
 * schema of its own, so anything with write access to it (an older version,
 * a person's patch, a restore from backup) may leave fields missing or of the
 * wrong shape; what cannot be read is dropped rather than failing every pass.
 */
export function storedStatus(raw: unknown): MLPipelineStatus | undefined {
  if (!isRecord(raw)) return undefined;
  const list = (value: unknown) => (Array.isArray(value) ? value.filter(isRecord) : []);
  const status = { ...raw } as unknown as MLPipelineStatus;
  status.conditions = list(raw.conditions).filter(
    (c) => typeof c.type === 'string',
  ) as unknown as Condition[];
  status.recentRuns = list(raw.recentRuns)
    .filter((run) => typeof run.id === 'string' && typeof run.phase === 'string')
    .map((run) => ({ ...run, stages: list(run.stages) })) as unknown as RunStatus[];
  const times = isRecord(raw.lastScheduleTimes) ? raw.lastScheduleTimes : {};
  const validTimes = Object.entries(times).filter(
    (entry): entry is [string, string] =>
      typeof entry[1] === 'string' && !Number.isNaN(Date.parse(entry[1])),
  );
  if (validTimes.length > 0) status.lastScheduleTimes = Object.fromEntries(validTimes);
  else delete status.lastScheduleTimes;
  if (typeof raw.observedGeneration !== 'number') status.observedGeneration = 0;
  return status;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface StatusInput {
  pipeline: PipelineObject;
  /** The pipeline's Jobs (by the pipeline label); others are ignored. */
  jobs: readonly V1Job[];
  /** The pipeline's pods: a succeeded pod ends its stage before its Job says so. */
  pods?: readonly V1Pod[];
  /** The reason the last pod of a failed Job gave (OOMKilled, exit code 1: ...), by Job name. */
  podFailures?: Readonly<Record<string, string>>;
  /** Whatever exists under the CronJob names of the pipeline, ours or not. */
  cronJobs: readonly V1CronJob[];
  /** Whatever exists under the pipeline's ConfigMap name. */
  configMap: V1ConfigMap | undefined;
  /** Why the spec cannot run here (clusterSpecProblems); empty when it can. */
  specProblems?: readonly SpecProblem[];
  /** The model store's current pointer; null when there is none, undefined when not read this pass. */
  currentModel?: {
    version: string;
    metrics: Record<string, unknown>;
    trainedAt: Date | string;
    location: string;
  } | null;
  /** The newest predict run's output; null when none, undefined when not read this pass. */
  lastPredictions?: {
    runId: string;
    rows: number;
    time: Date | string;
    table?: string;
    modelVersion?: string;
  } | null;
  previous: MLPipelineStatus | undefined;
  now: Date;
  /** From the planner this pass; without them the previous status's are kept. */
  lastScheduleTimes?: Readonly<Record<string, Date>>;
  nextScheduleTime?: Date;
  /** Slots skipped this pass. */
  skippedSlots?: readonly SkippedSlot[];
  /** Runs whose Jobs were deleted this pass for a newer run (concurrencyPolicy Replace). */
  replacedRuns?: readonly ReplacedRun[];
  /** The run-now value acted on this pass; without it the previous status's is kept. */
  handledRunNow?: string;
}

/** Status messages are for people: long pod output is cut, so status stays small. */
export const MAX_MESSAGE_LENGTH = 1024;

function clip(message: string): string {
  return message.length <= MAX_MESSAGE_LENGTH
    ? message
    : `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
}

function failureMessage(job: V1Job, podFailure: string | undefined): string {
  const failed = (job.status?.conditions ?? []).find(
    (c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True',
  );
  const parts = [
    failed ? [failed.reason, failed.message].filter(Boolean).join(': ') : 'Job failed',
    podFailure && `pod: ${podFailure}`,
  ];
  return clip(parts.filter(Boolean).join('; '));
}

function failedAt(job: V1Job): string | undefined {
  const failed = (job.status?.conditions ?? []).find(
    (c) => (c.type === 'Failed' || c.type === 'FailureTarget') && c.status === 'True',
  );
  return isoTime(failed?.lastTransitionTime);
}

/**
 * When a succeeded stage ended: its pod's end first, so the time does not
 * move when the Job's own completionTime lands a second later.
 */
function succeededAt(job: V1Job, pods: JobPods): string | undefined {
  const pod = succeededPod(job, pods(job));
  return (pod && podFinishedAt(pod)) ?? isoTime(job.status?.completionTime);
}

function stageStatus(
  run: ObservedRun,
  stage: StageName,
  podFailures: Readonly<Record<string, string>>,
  pods: JobPods,
): StageRunStatus {
  const job = run.jobs[stage];
  if (job === undefined) {
    return run.phase === 'Failed'
      ? { stage, phase: 'Skipped', message: 'an earlier stage failed' }
      : { stage, phase: 'Pending' };
  }
  const name = job.metadata?.name ?? '';
  const phase = jobPhase(job, pods(job));
  const status: StageRunStatus = { stage, phase, jobName: name };
  const startTime = isoTime(job.status?.startTime);
  if (startTime !== undefined) status.startTime = startTime;
  const completionTime =
    phase === 'Succeeded' ? succeededAt(job, pods) : phase === 'Failed' ? failedAt(job) : undefined;
  if (completionTime !== undefined) status.completionTime = completionTime;
  if (phase === 'Failed') status.message = failureMessage(job, podFailures[name]);
  if (phase === 'Running' || phase === 'Pending') {
    const stuck = stuckContainer(pods(job));
    if (stuck !== undefined) {
      status.waiting = stuck.reason;
      status.message = clip(
        `cannot start: ${stuck.reason}${stuck.message ? `: ${stuck.message}` : ''}`,
      );
    }
  }
  return status;
}

/** Reasons a container waits that are not on the way to running: they need a person. */
const PASSING_WAITS = new Set(['ContainerCreating', 'PodInitializing']);

/** The first container of a Job's pods that waits for something that will not come by itself. */
function stuckContainer(pods: readonly V1Pod[]): { reason: string; message?: string } | undefined {
  for (const pod of pods) {
    if (pod.status?.phase !== 'Pending' && pod.status?.phase !== undefined) continue;
    for (const container of [
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.containerStatuses ?? []),
    ]) {
      const waiting = container.state?.waiting;
      if (waiting?.reason && !PASSING_WAITS.has(waiting.reason)) {
        return { reason: waiting.reason, ...(waiting.message && { message: waiting.message }) };
      }
    }
  }
  return undefined;
}

function runStatus(
  run: ObservedRun,
  pipeline: string,
  podFailures: Readonly<Record<string, string>>,
  pods: JobPods,
): RunStatus {
  const stages = stagesFrom(run.startStage).map((stage) =>
    stageStatus(run, stage, podFailures, pods),
  );
  const status: RunStatus = { id: run.runId, phase: run.phase, stages };
  const parts = parseRunId(run.runId, pipeline);
  if (parts?.kind === 'scheduled') status.scheduledAt = parts.scheduledAt.toISOString();
  const started = stages
    .map((s) => s.startTime)
    .filter((t) => t !== undefined)
    .sort();
  if (started[0] !== undefined) status.startTime = started[0];
  if (run.phase === 'Succeeded' || run.phase === 'Failed') {
    const ended = stages
      .map((s) => s.completionTime)
      .filter((t) => t !== undefined)
      .sort();
    const last = ended.at(-1);
    if (last !== undefined) status.completionTime = last;
  }
  const failed = stages.find((s) => s.phase === 'Failed');
  if (failed !== undefined)
    status.message = clip(`stage ${failed.stage} failed: ${failed.message ?? ''}`);
  return status;
}

export interface ReplacedRun {
  runId: string;
  /** The run that replaced it. */
  by: string;
  at: Date;
}

/** A replaced run keeps what its stages had reached; those it never got to are Skipped. */
function replacedRun(replaced: ReplacedRun, before: RunStatus | undefined): RunStatus {
  const at = replaced.at.toISOString();
  const stages = (before?.stages ?? []).map((stage): StageRunStatus => {
    if (stage.phase === 'Running') {
      return {
        ...stage,
        phase: 'Failed',
        completionTime: at,
        message: 'stopped: the run was replaced',
      };
    }
    if (stage.phase === 'Pending')
      return { ...stage, phase: 'Skipped', message: 'the run was replaced' };
    return stage;
  });
  return {
    ...before,
    id: replaced.runId,
    phase: 'Replaced',
    completionTime: at,
    message: `replaced by run ${replaced.by} (concurrencyPolicy Replace)`,
    stages,
  };
}

function skippedRun(slot: SkippedSlot): RunStatus {
  const many = slot.count > 1 ? `${slot.count} slots skipped: ` : '';
  return {
    id: slot.runId,
    phase: 'Skipped',
    scheduledAt: slot.scheduledAt.toISOString(),
    message: clip(`${many}${slot.reason}`),
    stages: [],
  };
}

function runTime(run: RunStatus, pipeline: string): number {
  if (run.scheduledAt !== undefined) return Date.parse(run.scheduledAt);
  const parts = parseRunId(run.id, pipeline);
  if (parts?.kind === 'manual') return parts.requestedAt.getTime();
  return Date.parse(run.startTime ?? '') || 0;
}

function recentRuns(input: StatusInput): RunStatus[] {
  const { pipeline } = input;
  const podFailures = input.podFailures ?? {};
  const byId = new Map<string, RunStatus>();
  // Skipped slots and replaced runs leave no Job: the status is their only record, so they are carried over.
  const previous = new Map((input.previous?.recentRuns ?? []).map((run) => [run.id, run]));
  for (const run of previous.values()) {
    if (run.phase === 'Skipped' || run.phase === 'Replaced') byId.set(run.id, run);
  }
  for (const slot of input.skippedSlots ?? []) byId.set(slot.runId, skippedRun(slot));
  for (const replaced of input.replacedRuns ?? [])
    byId.set(replaced.runId, replacedRun(replaced, previous.get(replaced.runId)));
  const pods = jobPods(input.pods ?? []);
  for (const run of observedRuns(pipeline.name, input.jobs, pods)) {
    byId.set(run.runId, runStatus(run, pipeline.name, podFailures, pods));
  }
  const sorted = [...byId.values()].sort(
    (a, b) =>
      runTime(b, pipeline.name) - runTime(a, pipeline.name) ||
      (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
  // A run still going always stays: slots skipped while it blocks them must
  // not push it out before it ends (and its end would then go unreported).
  const isActive = (run: RunStatus) => run.phase === 'Running' || run.phase === 'Pending';
  const room = Math.max(0, pipeline.spec.historyLimit - sorted.filter(isActive).length);
  const finished = new Set(sorted.filter((run) => !isActive(run)).slice(0, room));
  return sorted.filter((run) => isActive(run) || finished.has(run));
}

type ConditionVerdict = Pick<Condition, 'type' | 'status' | 'reason' | 'message'>;

function readiness(input: StatusInput): ConditionVerdict {
  const { pipeline } = input;
  const problems = input.specProblems ?? [];
  if (problems.length > 0) {
    const message = problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    return { type: 'Ready', status: 'False', reason: Reason.InvalidSpec, message: clip(message) };
  }

  const expected: {
    kind: string;
    name: string;
    found: { metadata?: V1ConfigMap['metadata'] } | undefined;
  }[] = [
    {
      kind: 'ConfigMap',
      name: configMapName(pipeline.name),
      found:
        input.configMap?.metadata?.name === configMapName(pipeline.name)
          ? input.configMap
          : undefined,
    },
    ...STAGE_ORDER.map((stage) => {
      const name = cronJobName(pipeline.name, stage);
      return {
        kind: 'CronJob',
        name,
        found: input.cronJobs.find((c) => c.metadata?.name === name),
      };
    }),
  ];
  const foreign = expected.filter(
    (e) => e.found !== undefined && !isOwnedBy(e.found, pipeline.uid),
  );
  if (foreign.length > 0) {
    const which = foreign.map((e) => `${e.kind} ${e.name}`).join(', ');
    return {
      type: 'Ready',
      status: 'False',
      reason: Reason.ObjectNotOurs,
      message: `${which} already exists and is not owned by this MLPipeline; it is left alone: delete or rename it`,
    };
  }
  const missing = expected.filter((e) => e.found === undefined);
  if (missing.length > 0) {
    const which = missing.map((e) => `${e.kind} ${e.name}`).join(', ');
    return {
      type: 'Ready',
      status: 'False',
      reason: Reason.CronJobsPending,
      message: `waiting for ${which}`,
    };
  }
  return {
    type: 'Ready',
    status: 'True',
    reason: Reason.CronJobsReady,
    message: 'the ConfigMap and the CronJobs of the four stages are in place',
  };
}

function degradation(ready: ConditionVerdict, runs: readonly RunStatus[]): ConditionVerdict {
  if (ready.reason === Reason.InvalidSpec || ready.reason === Reason.ObjectNotOurs) {
    return { type: 'Degraded', status: 'True', reason: ready.reason, message: ready.message };
  }
  for (const run of runs) {
    const stuck = run.stages.find((stage) => stage.waiting !== undefined);
    if ((run.phase === 'Running' || run.phase === 'Pending') && stuck !== undefined) {
      return {
        type: 'Degraded',
        status: 'True',
        reason: Reason.StageCannotStart,
        message: clip(`run ${run.id}: stage ${stuck.stage} ${stuck.message ?? 'cannot start'}`),
      };
    }
  }
  const finished = runs.find((run) => run.phase === 'Succeeded' || run.phase === 'Failed');
  if (finished?.phase === 'Failed') {
    return {
      type: 'Degraded',
      status: 'True',
      reason: Reason.RunFailed,
      message: clip(`run ${finished.id}: ${finished.message ?? 'failed'}`),
    };
  }
  return {
    type: 'Degraded',
    status: 'False',
    reason: Reason.NoFailures,
    message: 'the newest finished run succeeded or none has finished',
  };
}

function suspension(input: StatusInput): ConditionVerdict {
  if (input.pipeline.spec.suspend) {
    return {
      type: 'Suspended',
      status: 'True',
      reason: Reason.Suspended,
      message: 'spec.suspend is true: no new run starts; runs already started finish',
    };
  }
  const next = input.nextScheduleTime ? `; next at ${input.nextScheduleTime.toISOString()}` : '';
  return {
    type: 'Suspended',
    status: 'False',
    reason: Reason.Scheduling,
    message: `runs start on schedule${next}`,
  };
}

function modelStatus(
  model: StatusInput['currentModel'],
  previous: MLPipelineStatus | undefined,
): ModelStatus | undefined {
  // A store that could not be read this pass does not make the model go away.
  if (model === undefined) return previous?.currentModel;
  if (model === null) return undefined;
  const metrics = Object.fromEntries(
    Object.entries(model.metrics).filter(
      (entry): entry is [string, number] =>
        typeof entry[1] === 'number' && Number.isFinite(entry[1]),
    ),
  );
  const status: ModelStatus = {
    version: model.version,
    metrics,
    trainedAt: isoTime(model.trainedAt) ?? String(model.trainedAt),
    location: model.location,
  };
  if (metrics.accuracy !== undefined) status.accuracy = metrics.accuracy;
  return status;
}

function promotion(model: ModelStatus | undefined): ConditionVerdict {
  if (model === undefined) {
    return {
      type: 'ModelPromoted',
      status: 'False',
      reason: Reason.NoModelYet,
      message: 'no model version has been promoted yet',
    };
  }
  const figure = model.accuracy !== undefined ? ` (accuracy ${model.accuracy})` : '';
  return {
    type: 'ModelPromoted',
    status: 'True',
    reason: Reason.ModelPromoted,
    message: `version ${model.version}${figure} is current`,
  };
}

/** verdict as a condition, keeping the previous lastTransitionTime unless the status flipped. */
function toCondition(
  verdict: ConditionVerdict,
  previous: MLPipelineStatus | undefined,
  generation: number,
  now: Date,
): Condition {
  const before = previous?.conditions.find((c) => c.type === verdict.type);
  const lastTransitionTime =
    before !== undefined && before.status === verdict.status
      ? before.lastTransitionTime
      : now.toISOString();
  return { ...verdict, observedGeneration: generation, lastTransitionTime };
}

function scheduleMemory(input: StatusInput): Record<string, string> | undefined {
  if (input.lastScheduleTimes === undefined) return input.previous?.lastScheduleTimes;
  const merged: Record<string, string> = { ...input.previous?.lastScheduleTimes };
  for (const [key, at] of Object.entries(input.lastScheduleTimes)) merged[key] = at.toISOString();
  return merged;
}

export function buildStatus(input: StatusInput): MLPipelineStatus {
  const { pipeline, previous, now } = input;

  const runs = recentRuns(input);
  const model = modelStatus(input.currentModel, previous);
  const ready = readiness(input);
  const verdicts = [ready, suspension(input), degradation(ready, runs), promotion(model)];

  const status: MLPipelineStatus = {
    observedGeneration: pipeline.generation,
    conditions: verdicts.map((v) => toCondition(v, previous, pipeline.generation, now)),
    recentRuns: runs,
  };

  const lastScheduleTimes = scheduleMemory(input);
  if (lastScheduleTimes !== undefined && Object.keys(lastScheduleTimes).length > 0) {
    status.lastScheduleTimes = lastScheduleTimes;
    status.lastScheduleTime = Object.values(lastScheduleTimes).sort().at(-1);
  }
  const next = input.nextScheduleTime?.toISOString() ?? previous?.nextScheduleTime;
  if (next !== undefined && !pipeline.spec.suspend) status.nextScheduleTime = next;

  const lastRun = runs.find((run) => run.phase !== 'Skipped') ?? runs[0];
  if (lastRun !== undefined) status.lastRun = { id: lastRun.id, phase: lastRun.phase };
  else if (previous?.lastRun !== undefined) status.lastRun = previous.lastRun;
  if (model !== undefined) status.currentModel = model;
  if (input.lastPredictions) {
    const { runId, rows, time, table, modelVersion } = input.lastPredictions;
    status.lastPredictions = { runId, rows, time: isoTime(time) ?? String(time) };
    if (table !== undefined) status.lastPredictions.table = table;
    if (modelVersion !== undefined) status.lastPredictions.modelVersion = modelVersion;
  } else if (input.lastPredictions === undefined && previous?.lastPredictions !== undefined) {
    status.lastPredictions = previous.lastPredictions;
  }
  const handledRunNow = input.handledRunNow ?? previous?.handledRunNow;
  if (handledRunNow !== undefined) status.handledRunNow = handledRunNow;
  return status;
}

/** Whether a status write is needed: any difference at all but key order. */
export function statusChanged(
  a: MLPipelineStatus | undefined,
  b: MLPipelineStatus | undefined,
): boolean {
  return !sameJson(a ?? null, b ?? null);
}
