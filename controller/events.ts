/**
 * Kubernetes Events for what changed between two statuses. Computed from the
 * statuses rather than from watch notifications, so a resync, a restart or a
 * second look at the same objects reports nothing twice: only a status write
 * comes with events, and the status written is the next pass's "previous".
 */
import type { StageName } from '../core/ports.js';
import type { Condition, MLPipelineStatus, RunStatus } from './status.js';
import { Reason } from './reasons.js';

export interface PipelineEvent {
  type: 'Normal' | 'Warning';
  reason: Reason;
  message: string;
  /** The run and stage it is about, for the log line that reports it. */
  run?: string;
  stage?: StageName;
}

function stageEvents(before: RunStatus | undefined, run: RunStatus): PipelineEvent[] {
  const events: PipelineEvent[] = [];
  // The run's own event says why its stage stopped; a StageFailed would blame the stage.
  if (run.phase === 'Replaced') return events;
  for (const stage of run.stages) {
    const was = before?.stages.find((s) => s.stage === stage.stage)?.phase;
    const waitedBefore = before?.stages.find((s) => s.stage === stage.stage)?.waiting;
    if (stage.waiting !== undefined && stage.waiting !== waitedBefore) {
      events.push({
        run: run.id,
        stage: stage.stage,
        type: 'Warning',
        reason: Reason.StageCannotStart,
        message: `run ${run.id}: stage ${stage.stage} ${stage.message ?? 'cannot start'}`,
      });
    }
    if (stage.phase === was) continue;
    if (stage.phase === 'Succeeded') {
      events.push({
        run: run.id,
        stage: stage.stage,
        type: 'Normal',
        reason: Reason.StageSucceeded,
        message: `run ${run.id}: stage ${stage.stage} succeeded (Job ${stage.jobName ?? '?'})`,
      });
    } else if (stage.phase === 'Failed') {
      events.push({
        run: run.id,
        stage: stage.stage,
        type: 'Warning',
        reason: Reason.StageFailed,
        message: `run ${run.id}: stage ${stage.stage} failed: ${stage.message ?? 'no reason given'}`,
      });
    }
  }
  return events;
}

function runEvents(before: RunStatus | undefined, run: RunStatus): PipelineEvent[] {
  if (run.phase === 'Skipped') {
    return before?.phase === 'Skipped'
      ? []
      : [
          {
            run: run.id,
            type: 'Warning',
            reason: Reason.RunSkipped,
            message: `run ${run.id} skipped: ${run.message ?? ''}`,
          },
        ];
  }

  const events: PipelineEvent[] = [];
  const started = run.stages.some((s) => s.jobName !== undefined);
  const startedBefore = before?.stages.some((s) => s.jobName !== undefined) ?? false;
  if (started && !startedBefore) {
    const first = run.stages.find((s) => s.jobName !== undefined);
    events.push({
      run: run.id,
      type: 'Normal',
      reason: Reason.RunStarted,
      message: `run ${run.id} started at stage ${first?.stage ?? '?'}`,
    });
  }
  events.push(...stageEvents(before, run));
  if (run.phase !== before?.phase) {
    if (run.phase === 'Succeeded') {
      events.push({
        run: run.id,
        type: 'Normal',
        reason: Reason.RunSucceeded,
        message: `run ${run.id} succeeded`,
      });
    } else if (run.phase === 'Replaced') {
      events.push({
        run: run.id,
        type: 'Normal',
        reason: Reason.RunReplaced,
        message: `run ${run.id} stopped: ${run.message ?? 'a newer run replaced it'}`,
      });
    } else if (run.phase === 'Failed') {
      events.push({
        run: run.id,
        type: 'Warning',
        reason: Reason.RunFailed,
        message: `run ${run.id} failed: ${run.message ?? 'a stage failed'}`,
      });
    }
  }
  return events;
}

function condition(status: MLPipelineStatus | undefined, type: Condition['type']) {
  return status?.conditions.find((c) => c.type === type);
}

/**
 * Events for each transition from previous to next, oldest run first: run
 * started, stage succeeded or failed, run succeeded, failed or skipped, model
 * promoted, suspended or resumed, and an object or spec problem appearing.
 */
export function transitionEvents(
  previous: MLPipelineStatus | undefined,
  next: MLPipelineStatus,
): PipelineEvent[] {
  const events: PipelineEvent[] = [];

  const earlier = new Map((previous?.recentRuns ?? []).map((run) => [run.id, run]));
  for (const run of [...next.recentRuns].reverse()) {
    events.push(...runEvents(earlier.get(run.id), run));
  }

  const model = next.currentModel;
  if (model !== undefined && model.version !== previous?.currentModel?.version) {
    const figure = model.accuracy !== undefined ? ` with accuracy ${model.accuracy}` : '';
    events.push({
      type: 'Normal',
      reason: Reason.ModelPromoted,
      message: `model version ${model.version}${figure} promoted`,
    });
  }

  const suspended = condition(next, 'Suspended');
  const wasSuspended = condition(previous, 'Suspended');
  if (suspended?.status === 'True' && wasSuspended?.status !== 'True') {
    events.push({ type: 'Normal', reason: Reason.Suspended, message: suspended.message });
  } else if (suspended?.status === 'False' && wasSuspended?.status === 'True') {
    events.push({
      type: 'Normal',
      reason: Reason.Resumed,
      message: 'spec.suspend is false: runs start on schedule again',
    });
  }

  // A problem with our objects or the spec gets the condition's reason, once, when it appears.
  const degraded = condition(next, 'Degraded');
  const wasDegraded = condition(previous, 'Degraded');
  const problem =
    degraded?.reason === Reason.ObjectNotOurs || degraded?.reason === Reason.InvalidSpec;
  if (degraded !== undefined && problem && degraded.reason !== wasDegraded?.reason) {
    events.push({ type: 'Warning', reason: degraded.reason, message: degraded.message });
  }

  return events;
}
