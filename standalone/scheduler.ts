import { messageOf, RunReplacedError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ResultsStore, RunRecord, RunTrigger, StageName } from '../core/ports.js';
import {
  decideConcurrency,
  manualRunId,
  planDueRuns,
  randomNonce,
  scheduleKeys,
} from '../core/schedule/index.js';
import type { Pipeline } from '../core/spec/load.js';

/** Starts one run and resolves when it has finished; aborting the signal stops it between stages. */
export type RunStarter = (run: RunRecord, signal: AbortSignal) => Promise<RunRecord>;

export interface SchedulerOptions {
  pipelines: Pipeline[];
  results: ResultsStore;
  startRun: RunStarter;
  log: Logger;
  now?: () => Date;
  /** Longest wait between two looks at the clock, so a changed clock is noticed. */
  maxSleepMs?: number;
  /** Whether scheduled runs are off; spec.suspend unless the API has changed it. */
  isSuspended?: (pipeline: Pipeline) => boolean;
  /** Told when a run is recorded, started or finished here, so views can refresh. */
  onRunChange?: (run: RunRecord) => void;
}

interface ActiveRun {
  run: RunRecord;
  controller: AbortController;
  done: Promise<unknown>;
}

/**
 * Single-container scheduling: the same rules as the operator (cron in a time
 * zone, concurrencyPolicy, missedRuns, run ids from the slot). The last slot
 * handled is kept in the results store, so a restart catches up by the rules,
 * and a run is claimed there before it starts, so two processes on one
 * database never run the same slot twice.
 */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #now: () => Date;
  readonly #active = new Map<string, ActiveRun[]>();
  readonly #nextRunAt = new Map<string, Date>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #ticking: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops scheduling; runs in progress are aborted between stages and awaited. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#ticking;
    const runs = [...this.#active.values()].flat();
    for (const active of runs) active.controller.abort(new Error('the scheduler is stopping'));
    await Promise.allSettled(runs.map((a) => a.done));
  }

  /** The next slot of a pipeline's schedules, once the scheduler has looked. */
  nextRunAt(pipeline: string): Date | undefined {
    return this.#nextRunAt.get(pipeline);
  }

  activeRuns(pipeline: string): RunRecord[] {
    return (this.#active.get(pipeline) ?? []).map((a) => a.run);
  }

  /**
   * Starts a run now, outside the schedule, subject to concurrencyPolicy.
   * Resolves when it has started, with its record.
   */
  async runNow(pipelineName: string, startStage: StageName = 'collect'): Promise<RunRecord> {
    const pipeline = this.#pipeline(pipelineName);
    if (this.#isSuspended(pipeline)) {
      throw new RunRejectedError(`pipeline ${pipeline.name} is suspended; resume it to run it`);
    }
    const now = this.#now();
    const run = newRun(
      pipeline,
      manualRunId(pipeline.name, now, randomNonce()),
      'manual',
      startStage,
      now,
      now,
    );
    const decision = decideConcurrency(
      pipeline.spec.concurrencyPolicy,
      this.activeRuns(pipeline.name).map((r) => r.runId),
    );
    if (decision.action === 'skip') throw new RunRejectedError(decision.reason);
    if (!(await this.#options.results.claimRun(run))) {
      throw new RunRejectedError(`run ${run.runId} already exists`);
    }
    if (decision.action === 'replace') this.#cancel(pipeline.name, decision.cancel, run.runId);
    this.#launch(pipeline, run);
    return run;
  }

  /** Waits for every run this process has started to finish (for tests and `run`). */
  async idle(): Promise<void> {
    for (;;) {
      const runs = [...this.#active.values()].flat();
      if (runs.length === 0) return;
      await Promise.allSettled(runs.map((a) => a.done));
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#ticking = this.tick()
        .then((wakeAt) => this.#schedule(Math.max(0, wakeAt.getTime() - this.#now().getTime())))
        .finally(() => (this.#ticking = undefined));
    }, delayMs);
    this.#timer.unref?.();
  }

  /**
   * One look at the clock: records skipped slots, starts due runs, and says
   * when to look again. The timer calls it; tests call it with a fake clock.
   */
  async tick(): Promise<Date> {
    let nextWake = this.#now().getTime() + (this.#options.maxSleepMs ?? 30_000);
    for (const pipeline of this.#options.pipelines) {
      try {
        const next = await this.#tickPipeline(pipeline);
        if (next) nextWake = Math.min(nextWake, next.getTime());
      } catch (error) {
        this.#options.log.error(
          { pipeline: pipeline.name, err: messageOf(error) },
          'scheduling failed; will retry',
        );
        nextWake = Math.min(nextWake, this.#now().getTime() + 5_000);
      }
    }
    return new Date(nextWake);
  }

  async #tickPipeline(pipeline: Pipeline): Promise<Date | undefined> {
    const { spec } = pipeline;
    const results = this.#options.results;
    let earliest: Date | undefined;

    for (const key of scheduleKeys(spec)) {
      const now = this.#now();
      const last = await results.getLastScheduleTime(pipeline.name, key.key);
      const plan = planDueRuns({
        pipeline: pipeline.name,
        scheduleKey: key.key,
        startStage: key.startStage,
        schedule: key.schedule,
        timeZone: spec.timeZone,
        now,
        lastScheduleTime: last ? new Date(last) : undefined,
        startingDeadlineSeconds: spec.startingDeadlineSeconds,
        missedRuns: spec.missedRuns,
      });
      if (!earliest || plan.nextRunAt < earliest) earliest = plan.nextRunAt;

      if (this.#isSuspended(pipeline)) {
        // Slots passed while suspended are not owed when it resumes.
        if (plan.newLastScheduleTime) {
          await results.setLastScheduleTime(
            pipeline.name,
            key.key,
            plan.newLastScheduleTime.toISOString(),
          );
        }
        continue;
      }

      for (const slot of plan.skipped) {
        const record = newRun(
          pipeline,
          slot.runId,
          'schedule',
          key.startStage,
          slot.scheduledAt,
          now,
        );
        record.phase = 'Skipped';
        record.message = slot.reason;
        record.finishedAt = now.toISOString();
        if (await results.claimRun(record)) {
          this.#options.onRunChange?.(record);
          this.#options.log.warn(
            { pipeline: pipeline.name, run: slot.runId, reason: slot.reason },
            'run skipped',
          );
        }
      }
      for (const due of plan.run) {
        await this.#startDue(
          pipeline,
          newRun(pipeline, due.runId, due.trigger, key.startStage, due.scheduledAt, now),
        );
      }
      if (plan.newLastScheduleTime) {
        await results.setLastScheduleTime(
          pipeline.name,
          key.key,
          plan.newLastScheduleTime.toISOString(),
        );
      }
    }
    if (earliest) this.#nextRunAt.set(pipeline.name, earliest);
    return earliest;
  }

  async #startDue(pipeline: Pipeline, run: RunRecord): Promise<void> {
    const results = this.#options.results;
    const decision = decideConcurrency(
      pipeline.spec.concurrencyPolicy,
      this.activeRuns(pipeline.name).map((r) => r.runId),
    );
    if (decision.action === 'skip') {
      run.phase = 'Skipped';
      run.message = decision.reason;
      run.finishedAt = this.#now().toISOString();
    }
    // The claim is what makes a slot run once across processes: whoever
    // inserts the record first runs it; the others see it and move on.
    if (!(await results.claimRun(run))) return;
    if (decision.action === 'skip') {
      this.#options.onRunChange?.(run);
      this.#options.log.warn(
        { pipeline: pipeline.name, run: run.runId, reason: decision.reason },
        'run skipped',
      );
      return;
    }
    if (decision.action === 'replace') this.#cancel(pipeline.name, decision.cancel, run.runId);
    this.#launch(pipeline, run);
  }

  #launch(pipeline: Pipeline, run: RunRecord): void {
    const controller = new AbortController();
    const log = this.#options.log.child({ pipeline: pipeline.name, run: run.runId });
    log.info(
      { trigger: run.trigger, scheduledAt: run.scheduledAt, startStage: run.startStage },
      'run started',
    );
    const done = this.#options
      .startRun(run, controller.signal)
      .catch((error: unknown) => log.error({ err: messageOf(error) }, 'run ended with an error'))
      .finally(() => {
        const list = this.#active.get(pipeline.name) ?? [];
        this.#active.set(
          pipeline.name,
          list.filter((a) => a.run.runId !== run.runId),
        );
        this.#options.onRunChange?.(run);
      });
    const list = this.#active.get(pipeline.name) ?? [];
    list.push({ run, controller, done });
    this.#active.set(pipeline.name, list);
    this.#options.onRunChange?.(run);
  }

  #isSuspended(pipeline: Pipeline): boolean {
    return this.#options.isSuspended?.(pipeline) ?? pipeline.spec.suspend;
  }

  #cancel(pipeline: string, runIds: string[], byRunId: string): void {
    for (const active of this.#active.get(pipeline) ?? []) {
      if (runIds.includes(active.run.runId)) {
        active.controller.abort(new RunReplacedError(byRunId));
      }
    }
  }

  #pipeline(name: string): Pipeline {
    const pipeline = this.#options.pipelines.find((p) => p.name === name);
    if (!pipeline) throw new UnknownPipelineError(name);
    return pipeline;
  }
}

export class RunRejectedError extends Error {
  override readonly name = 'RunRejectedError';
}

export class UnknownPipelineError extends Error {
  override readonly name = 'UnknownPipelineError';
  constructor(readonly pipeline: string) {
    super(`no pipeline named "${pipeline}"`);
  }
}

function newRun(
  pipeline: Pipeline,
  runId: string,
  trigger: RunTrigger,
  startStage: StageName,
  at: Date,
  now: Date,
): RunRecord {
  return {
    pipeline: pipeline.name,
    runId,
    trigger,
    scheduledAt: trigger === 'manual' ? undefined : at.toISOString(),
    startStage,
    phase: 'Pending',
    startedAt: now.toISOString(),
    stages: [],
  };
}
