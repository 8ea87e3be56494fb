/**
 * One reconcile pass of one pipeline: the thin layer that carries out what
 * the pure modules decide (desired.ts, chaining.ts, runs.ts, status.ts,
 * events.ts, core/schedule). It reads from the informers' caches, and writes
 * only what differs, so a pass over a pipeline where nothing happened makes
 * no API write at all.
 *
 * Order matters for restarts: Jobs are created before the status that
 * records their slot is written. A pass that dies in between is repeated;
 * the same slot gives the same run id and the same Job name, and the
 * create answers "already exists".
 */
import type {
  CoreV1Event,
  KubernetesObject,
  V1ConfigMap,
  V1CronJob,
  V1Job,
  V1Pod,
} from '@kubernetes/client-node';

import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { StageName } from '../core/ports.js';
import {
  decideConcurrency,
  planDueRuns,
  scheduleKeys,
  type DueRun,
  type SkippedSlot,
} from '../core/schedule/index.js';
import { stageFailureIn } from '../core/stage-failure.js';
import { chainStep, stageJob } from './chaining.js';
import {
  clusterSpecProblems,
  configMapNeedsUpdate,
  cronJobNeedsUpdate,
  cronJobUpdate,
  desiredConfigMap,
  desiredCronJobs,
  isOwnedBy,
  type ControllerSettings,
  type PipelineObject,
} from './desired.js';
import { transitionEvents, type PipelineEvent } from './events.js';
import { isAlreadyExists, isNotFound, type ClusterApi, type MLPipelineResource } from './kube.js';
import type { ControllerMetrics } from './metrics.js';
import {
  ANNOTATION_RUN_NOW,
  API_VERSION,
  configMapName,
  KIND,
  LABEL_PIPELINE,
  runNowRunId,
} from './names.js';
import type { HandlerResult } from './queue.js';
import { Reason } from './reasons.js';
import {
  activeRunIds,
  isoTime,
  jobIdentity,
  jobPhase,
  jobPods,
  jobsToPrune,
  observedRuns,
  podFinishedAt,
  succeededPod,
  type JobPods,
} from './runs.js';
import {
  buildStatus,
  statusChanged,
  storedStatus,
  type ReplacedRun,
  type StatusInput,
} from './status.js';
import { parseKey } from './watch.js';

/** The read side of an informer. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface Caches {
  pipelines: Cache<MLPipelineResource>;
  cronJobs: Cache<V1CronJob>;
  jobs: Cache<V1Job>;
  configMaps: Cache<V1ConfigMap>;
  pods: Cache<V1Pod>;
}

/** What status shows of one run's predictions. */
export type PredictionsRead = NonNullable<StatusInput['lastPredictions']>;

/**
 * Reads the model store: its current pointer, as status shows it (null when
 * none is promoted), and, when it can, the predictions summary a run's
 * predict stage left there (undefined when that run left none).
 */
export interface ModelReader {
  (pipeline: PipelineObject): Promise<StatusInput['currentModel']>;
  predictions?: (pipeline: PipelineObject, runId: string) => Promise<PredictionsRead | undefined>;
}

export interface ReconcilerOptions {
  api: ClusterApi;
  caches: Caches;
  settings: ControllerSettings;
  log: Logger;
  /** Reads the current model pointer; without it status keeps what it had. */
  readModel?: ModelReader;
  /** How long a model read is reused while no train Job finished (default 60 s). */
  modelRefreshMs?: number;
  /**
   * When this process first saw a pod Succeeded (epoch ms, on the clock of
   * now): where the chaining latency metric starts. Without it, or for a pod
   * not seen so, the container's finishedAt is used, in whole seconds.
   */
  podSucceededAt?: (pod: V1Pod) => number | undefined;
  now?: () => Date;
  metrics?: ControllerMetrics;
  /** Who writes events: this replica's identity. */
  identity?: string;
}

const COMPONENT = 'mlpipeline-controller';
/** Requeue a little after a slot, so the slot is due when the pass runs. */
const SLOT_MARGIN_MS = 50;
/** A slot months away is still looked at hourly: the clock may have jumped, the spec may change. */
const MAX_REQUEUE_MS = 60 * 60_000;

interface Owned<T> {
  object: T | undefined;
  foreign: boolean;
}

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => Date;
  /**
   * Status writes the cache may not show yet, by key: used while the cache
   * still has the object they replaced.
   */
  readonly #written = new Map<string, { basedOn: string; object: MLPipelineResource }>();
  readonly #models = new Map<
    string,
    { at: number; trainJobs: string; value: StatusInput['currentModel'] }
  >();
  /** The newest succeeded run's predictions summary, by key: a run's summary never changes. */
  readonly #predictions = new Map<string, { runId: string; value: PredictionsRead | undefined }>();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** One pass over the pipeline named by key ("namespace/name"). Throws what should be retried. */
  async reconcile(key: string): Promise<HandlerResult> {
    const { namespace, name } = parseKey(key);
    const resource = this.#current(key, this.#options.caches.pipelines.get(name, namespace));
    // Gone, or going: the garbage collector deletes what it owned.
    if (resource === undefined || resource.metadata.deletionTimestamp !== undefined) {
      this.#written.delete(key);
      this.#models.delete(key);
      this.#predictions.delete(key);
      return {};
    }

    const pipeline: PipelineObject = {
      name,
      namespace,
      uid: resource.metadata.uid ?? '',
      generation: resource.metadata.generation ?? 0,
      spec: resource.spec,
    };
    const log = this.#options.log.child({ pipeline: key });
    const now = this.#now();
    const previous = storedStatus(resource.status);

    // The spec: a problem only the user can fix is reported, never retried.
    const specProblems = clusterSpecProblems(pipeline.spec, this.#options.settings);

    // The ConfigMap and the CronJobs, created or brought up to date. They do
    // not depend on each other, so their requests go out together.
    const [configMap, cronJobs] =
      specProblems.length === 0
        ? await Promise.all([
            this.#ensureConfigMap(pipeline, log),
            this.#ensureCronJobs(pipeline, log),
          ])
        : [
            {
              object: this.#options.caches.configMaps.get(configMapName(name), namespace),
              foreign: false,
            },
            [],
          ];
    const foreign = configMap.foreign || cronJobs.some((c) => c.foreign);
    const canRun = specProblems.length === 0 && !foreign;

    // Runs: chain finished stages, start due and requested runs, prune old ones.
    const jobs = this.#jobsOf(pipeline);
    const pods = this.#podsOf(pipeline);
    const podsOfJob = jobPods(pods);
    let skipped: SkippedSlot[] = [];
    let lastScheduleTimes: Record<string, Date> | undefined;
    let nextScheduleTime: Date | undefined;
    let handledRunNow: string | undefined;
    const extraEvents: PipelineEvent[] = [];
    const replaced: ReplacedRun[] = [];
    if (canRun) {
      await this.#chain(pipeline, jobs, podsOfJob, log);
      const schedule = await this.#schedule(
        pipeline,
        resource,
        jobs,
        podsOfJob,
        now,
        log,
        replaced,
      );
      ({ skipped, lastScheduleTimes, nextScheduleTime } = schedule);
      const manual = await this.#runNow(pipeline, resource, jobs, podsOfJob, now, log, replaced);
      handledRunNow = manual.handled;
      if (manual.skipped !== undefined) skipped.push(manual.skipped);
      if (manual.event !== undefined) extraEvents.push(manual.event);
      await this.#prune(pipeline, jobs, podsOfJob, log);
    }

    // Status, from what exists now; written only when it changed, with its events.
    const status = buildStatus({
      pipeline,
      jobs,
      pods,
      podFailures: this.#podFailures(jobs, podsOfJob),
      cronJobs: cronJobs.flatMap((c) => (c.object ? [c.object] : [])),
      configMap: configMap.object,
      specProblems,
      currentModel: await this.#model(pipeline, jobs, podsOfJob, log),
      lastPredictions: await this.#lastPredictions(pipeline, jobs, podsOfJob, log),
      previous,
      now,
      ...(lastScheduleTimes && { lastScheduleTimes }),
      ...(nextScheduleTime && { nextScheduleTime }),
      skippedSlots: skipped,
      replacedRuns: replaced,
      ...(handledRunNow !== undefined && { handledRunNow }),
    });
    if (statusChanged(previous, status)) {
      let written: MLPipelineResource;
      try {
        written = await this.#options.api.replacePipelineStatus({ ...resource, status });
      } catch (err) {
        // Deleted since the cache was filled: nothing left to report on.
        if (isNotFound(err)) return {};
        throw err;
      }
      this.#written.set(key, { basedOn: resource.metadata.resourceVersion ?? '', object: written });
      log.info(
        {
          generation: pipeline.generation,
          conditions: status.conditions.map((c) => `${c.type}=${c.status}`),
        },
        'status updated',
      );
      await this.#record(written, [...transitionEvents(previous, status), ...extraEvents], log);
    }

    if (!canRun || nextScheduleTime === undefined || pipeline.spec.suspend) return {};
    const untilSlot = nextScheduleTime.getTime() - this.#now().getTime() + SLOT_MARGIN_MS;
    return { requeueAfterMs: Math.min(MAX_REQUEUE_MS, Math.max(0, untilSlot)) };
  }

  /** The cached pipeline, or the one this replica wrote when the cache has not caught up. */
  #current(key: string, cached: MLPipelineResource | undefined): MLPipelineResource | undefined {
    const written = this.#written.get(key);
    if (cached === undefined || written === undefined) return cached;
    if (cached.metadata.resourceVersion === written.basedOn) return written.object;
    this.#written.delete(key);
    return cached;
  }

  async #ensure<T extends KubernetesObject>(
    desired: T,
    kind: string,
    pipeline: PipelineObject,
    log: Logger,
    ops: {
      cached: T | undefined;
      get: () => Promise<T | undefined>;
      create: (body: T) => Promise<T>;
      needsUpdate: (actual: T, desired: T) => boolean;
      update: (actual: T) => Promise<T>;
    },
  ): Promise<Owned<T>> {
    const name = desired.metadata?.name ?? '';
    // Not in the cache: not ours (no label), or not there yet; the API server knows which.
    let actual = ops.cached ?? (await ops.get());
    if (actual === undefined) {
      try {
        const created = await ops.create(desired);
        log.info({ kind, name }, 'created');
        return { object: created, foreign: false };
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        actual = await ops.get();
        if (actual === undefined) throw err;
      }
    }
    if (!isOwnedBy(actual, pipeline.uid)) {
      // Reported once, by the ObjectNotOurs event when the condition appears; this repeats every pass.
      log.debug({ kind, name }, 'an object with our name is not ours; left alone');
      return { object: actual, foreign: true };
    }
    if (ops.needsUpdate(actual, desired)) {
      const updated = await ops.update(actual);
      log.info({ kind, name }, 'updated');
      return { object: updated, foreign: false };
    }
    return { object: actual, foreign: false };
  }

  #ensureConfigMap(pipeline: PipelineObject, log: Logger): Promise<Owned<V1ConfigMap>> {
    const { api, caches } = this.#options;
    const desired = desiredConfigMap(pipeline);
    const name = desired.metadata!.name!;
    return this.#ensure(desired, 'ConfigMap', pipeline, log, {
      cached: caches.configMaps.get(name, pipeline.namespace),
      get: () => api.getConfigMap(pipeline.namespace, name),
      create: (body) => api.createConfigMap(body),
      needsUpdate: configMapNeedsUpdate,
      update: (actual) =>
        api.replaceConfigMap({
          ...actual,
          metadata: {
            ...actual.metadata,
            labels: { ...actual.metadata?.labels, ...desired.metadata?.labels },
          },
          data: desired.data,
        }),
    });
  }

  #ensureCronJobs(pipeline: PipelineObject, log: Logger): Promise<Owned<V1CronJob>[]> {
    const { api, caches, settings } = this.#options;
    return Promise.all(
      desiredCronJobs(pipeline, settings).map((desired) => {
        const name = desired.metadata!.name!;
        return this.#ensure(desired, 'CronJob', pipeline, log, {
          cached: caches.cronJobs.get(name, pipeline.namespace),
          get: () => api.getCronJob(pipeline.namespace, name),
          create: (body) => api.createCronJob(body),
          needsUpdate: cronJobNeedsUpdate,
          update: (actual) => api.replaceCronJob(cronJobUpdate(actual, desired)),
        });
      }),
    );
  }

  /** The pipeline's Jobs: labelled with its name and owned by this MLPipeline, not a deleted namesake. */
  #jobsOf(pipeline: PipelineObject): V1Job[] {
    return this.#options.caches.jobs
      .list(pipeline.namespace)
      .filter(
        (job) =>
          job.metadata?.labels?.[LABEL_PIPELINE] === pipeline.name && isOwnedBy(job, pipeline.uid),
      );
  }

  /** The pipeline's stage pods, by the pipeline label; jobPods matches them to their Jobs. */
  #podsOf(pipeline: PipelineObject): V1Pod[] {
    return this.#options.caches.pods
      .list(pipeline.namespace)
      .filter((pod) => pod.metadata?.labels?.[LABEL_PIPELINE] === pipeline.name);
  }

  /** Creates job unless a Job of that name is known; adds it to jobs. True when this call created it. */
  async #createJob(job: V1Job, jobs: V1Job[]): Promise<boolean> {
    const name = job.metadata?.name;
    if (jobs.some((j) => j.metadata?.name === name)) return false;
    try {
      jobs.push(await this.#options.api.createJob(job));
      return true;
    } catch (err) {
      // Created by an earlier pass the cache does not show yet: the same name is the same run and stage.
      if (!isAlreadyExists(err)) throw err;
      jobs.push(job);
      return false;
    }
  }

  async #chain(pipeline: PipelineObject, jobs: V1Job[], pods: JobPods, log: Logger): Promise<void> {
    for (const job of [...jobs]) {
      const decision = chainStep(pipeline, this.#options.settings, job, pods(job));
      if (decision.action !== 'create') continue;
      if (!(await this.#createJob(decision.job, jobs))) continue;

      const finishedAt = this.#finishedAt(job, pods(job));
      if (finishedAt !== undefined) {
        this.#options.metrics?.chainingLatency.observe(
          Math.max(0, this.#now().getTime() - finishedAt) / 1000,
        );
      }
      log.info(
        {
          run: decision.runId,
          stage: decision.stage,
          job: decision.job.metadata?.name,
          after: jobIdentity(job)?.stage,
        },
        'next stage started',
      );
    }
  }

  /** Where chaining latency starts: see podSucceededAt. */
  #finishedAt(job: V1Job, pods: readonly V1Pod[]): number | undefined {
    const pod = succeededPod(job, pods);
    if (pod === undefined) return finishTime(job);
    const seen = this.#options.podSucceededAt?.(pod);
    if (seen !== undefined) return seen;
    const finished = podFinishedAt(pod);
    return finished === undefined ? finishTime(job) : Date.parse(finished);
  }

  async #startRun(
    pipeline: PipelineObject,
    due: Pick<DueRun, 'runId' | 'startStage'> & { trigger: string },
    jobs: V1Job[],
    log: Logger,
  ): Promise<void> {
    const job = stageJob(pipeline, this.#options.settings, due.runId, due.startStage);
    if (await this.#createJob(job, jobs)) {
      this.#options.metrics?.runsStarted.inc({ trigger: due.trigger });
      log.info(
        { run: due.runId, stage: due.startStage, job: job.metadata?.name, trigger: due.trigger },
        'run started',
      );
    }
  }

  /**
   * Applies the concurrency policy to a run about to start; returns why it
   * was skipped, or undefined once it has started.
   */
  async #admit(
    pipeline: PipelineObject,
    due: Pick<DueRun, 'runId' | 'startStage'> & { trigger: string },
    jobs: V1Job[],
    pods: JobPods,
    log: Logger,
    replaced: ReplacedRun[],
  ): Promise<string | undefined> {
    const runs = observedRuns(pipeline.name, jobs, pods);
    if (runs.some((run) => run.runId === due.runId)) return undefined;
    const decision = decideConcurrency(pipeline.spec.concurrencyPolicy, activeRunIds(runs));
    if (decision.action === 'skip') {
      log.warn({ run: due.runId, stage: due.startStage, reason: decision.reason }, 'run skipped');
      return decision.reason;
    }
    if (decision.action === 'replace') {
      for (const run of runs.filter((r) => decision.cancel.includes(r.runId))) {
        for (const job of Object.values(run.jobs)) {
          const name = job.metadata?.name ?? '';
          await this.#options.api.deleteJob(pipeline.namespace, name);
          jobs.splice(jobs.indexOf(job), 1);
          log.info({ run: run.runId, stage: jobIdentity(job)?.stage, job: name }, 'run replaced');
        }
        replaced.push({ runId: run.runId, by: due.runId, at: this.#now() });
      }
    }
    await this.#startRun(pipeline, due, jobs, log);
    return undefined;
  }

  async #schedule(
    pipeline: PipelineObject,
    resource: MLPipelineResource,
    jobs: V1Job[],
    pods: JobPods,
    now: Date,
    log: Logger,
    replaced: ReplacedRun[],
  ) {
    const { spec } = pipeline;
    const remembered = storedStatus(resource.status)?.lastScheduleTimes ?? {};
    const created = isoTime(resource.metadata.creationTimestamp);
    const skipped: SkippedSlot[] = [];
    const lastScheduleTimes: Record<string, Date> = {};
    let nextScheduleTime: Date | undefined;

    for (const source of scheduleKeys(spec)) {
      const last = remembered[source.key];
      const plan = planDueRuns({
        pipeline: pipeline.name,
        scheduleKey: source.key,
        startStage: source.startStage,
        schedule: source.schedule,
        timeZone: source.timeZone,
        now,
        lastScheduleTime: last === undefined ? undefined : new Date(last),
        startingDeadlineSeconds: spec.startingDeadlineSeconds,
        missedRuns: spec.missedRuns,
        ...(created !== undefined && { createdAt: new Date(created) }),
      });
      if (plan.newLastScheduleTime !== undefined)
        lastScheduleTimes[source.key] = plan.newLastScheduleTime;
      if (nextScheduleTime === undefined || plan.nextRunAt < nextScheduleTime)
        nextScheduleTime = plan.nextRunAt;
      // Slots that pass while suspended are not owed on resume: they are only marked handled.
      if (spec.suspend) continue;

      skipped.push(...plan.skipped);
      for (const due of plan.run) {
        const reason = await this.#admit(pipeline, due, jobs, pods, log, replaced);
        if (reason !== undefined) {
          skipped.push({ runId: due.runId, scheduledAt: due.scheduledAt, reason, count: 1 });
        }
      }
    }
    return { skipped, lastScheduleTimes, nextScheduleTime };
  }

  /** The run-now annotation: a new value starts one manual run at collect, once. */
  async #runNow(
    pipeline: PipelineObject,
    resource: MLPipelineResource,
    jobs: V1Job[],
    pods: JobPods,
    now: Date,
    log: Logger,
    replaced: ReplacedRun[],
  ): Promise<{ handled?: string; skipped?: SkippedSlot; event?: PipelineEvent }> {
    const value = resource.metadata.annotations?.[ANNOTATION_RUN_NOW];
    if (value === undefined || value === resource.status?.handledRunNow) return {};
    const runId = runNowRunId(pipeline.name, value);
    if (runId === undefined) {
      return {
        handled: value,
        event: {
          type: 'Warning',
          reason: Reason.InvalidRunNow,
          message: `${ANNOTATION_RUN_NOW} is "${value}", not a time such as ${now.toISOString()}: no run started`,
        },
      };
    }
    // Suspended means no new run; the request is answered, not queued until
    // a resume that may come much later.
    if (pipeline.spec.suspend) {
      return {
        handled: value,
        event: {
          type: 'Warning',
          reason: Reason.Suspended,
          message: `${ANNOTATION_RUN_NOW} "${value}" ignored: the pipeline is suspended (spec.suspend); resume it and annotate again`,
        },
      };
    }
    const startStage: StageName = 'collect';
    const reason = await this.#admit(
      pipeline,
      { runId, startStage, trigger: 'manual' },
      jobs,
      pods,
      log,
      replaced,
    );
    if (reason === undefined) return { handled: value };
    return { handled: value, skipped: { runId, scheduledAt: now, reason, count: 1 } };
  }

  async #prune(pipeline: PipelineObject, jobs: V1Job[], pods: JobPods, log: Logger): Promise<void> {
    const old = jobsToPrune(observedRuns(pipeline.name, jobs, pods), pipeline.spec.historyLimit);
    for (const job of old) {
      const name = job.metadata?.name ?? '';
      await this.#options.api.deleteJob(pipeline.namespace, name);
      jobs.splice(jobs.indexOf(job), 1);
      const identity = jobIdentity(job);
      log.info({ run: identity?.runId, stage: identity?.stage, job: name }, 'old run pruned');
    }
  }

  /** Why each failed Job's newest pod failed, from the pod cache. */
  #podFailures(jobs: readonly V1Job[], pods: JobPods): Record<string, string> {
    const failures: Record<string, string> = {};
    for (const job of jobs) {
      if (jobPhase(job, pods(job)) !== 'Failed') continue;
      const newest = [...pods(job)].sort(
        (a, b) =>
          new Date(b.metadata?.creationTimestamp ?? 0).getTime() -
          new Date(a.metadata?.creationTimestamp ?? 0).getTime(),
      )[0];
      const reason = newest && podFailureReason(newest);
      if (reason) failures[job.metadata?.name ?? ''] = reason;
    }
    return failures;
  }

  async #model(
    pipeline: PipelineObject,
    jobs: readonly V1Job[],
    pods: JobPods,
    log: Logger,
  ): Promise<StatusInput['currentModel']> {
    const read = this.#options.readModel;
    if (read === undefined) return undefined;
    const key = `${pipeline.namespace}/${pipeline.name}`;
    // A new succeeded train Job is when the pointer may have moved; otherwise a read is reused a while.
    const trainJobs = jobs
      .filter(
        (job) => jobIdentity(job)?.stage === 'train' && jobPhase(job, pods(job)) === 'Succeeded',
      )
      .map((job) => job.metadata?.name ?? '')
      .sort()
      .join(',');
    const cached = this.#models.get(key);
    const now = this.#now().getTime();
    if (
      cached !== undefined &&
      cached.trainJobs === trainJobs &&
      now - cached.at < (this.#options.modelRefreshMs ?? 60_000)
    ) {
      return cached.value;
    }
    try {
      const value = await read(pipeline);
      this.#models.set(key, { at: now, trainJobs, value });
      return value;
    } catch (err) {
      log.warn(
        { err: messageOf(err) },
        'cannot read the current model pointer; status keeps the last one',
      );
      return undefined;
    }
  }

  /**
   * The predictions of the newest succeeded run, from the summary its predict
   * stage wrote; undefined keeps what status has (no succeeded run in the
   * history, no summary, or the store could not be read).
   */
  async #lastPredictions(
    pipeline: PipelineObject,
    jobs: readonly V1Job[],
    pods: JobPods,
    log: Logger,
  ): Promise<PredictionsRead | undefined> {
    const read = this.#options.readModel?.predictions;
    if (read === undefined) return undefined;
    const newest = observedRuns(pipeline.name, jobs, pods).find((r) => r.phase === 'Succeeded');
    if (newest === undefined) return undefined;

    const key = `${pipeline.namespace}/${pipeline.name}`;
    const cached = this.#predictions.get(key);
    if (cached?.runId === newest.runId) return cached.value;
    try {
      const value = await read(pipeline, newest.runId);
      this.#predictions.set(key, { runId: newest.runId, value });
      return value;
    } catch (err) {
      log.warn(
        { run: newest.runId, err: messageOf(err) },
        'cannot read the predictions summary; status keeps the last one',
      );
      return undefined;
    }
  }

  async #record(pipeline: MLPipelineResource, events: PipelineEvent[], log: Logger): Promise<void> {
    const { api, metrics, identity } = this.#options;
    const meta = pipeline.metadata;
    for (const event of events) {
      if (event.reason === Reason.RunSucceeded) metrics?.runsSucceeded.inc();
      if (event.reason === Reason.RunFailed) metrics?.runsFailed.inc();
      if (event.reason === Reason.RunSkipped) metrics?.runsSkipped.inc();
      const about = {
        ...(event.run !== undefined && { run: event.run }),
        ...(event.stage !== undefined && { stage: event.stage }),
      };
      const now = this.#now();
      const body: CoreV1Event = {
        metadata: { generateName: `${meta.name}.`, namespace: meta.namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: KIND,
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: COMPONENT },
        reportingComponent: `mlpipeline.dev/controller`,
        reportingInstance: identity ?? COMPONENT,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      try {
        await api.createEvent(body);
      } catch (err) {
        // Events are for people; losing one must not repeat a pass that has already written status.
        log.warn({ ...about, reason: event.reason, err: messageOf(err) }, 'cannot record event');
      }
      const line = { ...about, reason: event.reason, type: event.type, message: event.message };
      if (event.type === 'Warning') log.warn(line, 'event');
      else log.info(line, 'event');
    }
  }
}

/** When a finished Job finished: its completion time, or its Failed condition's time. */
function finishTime(job: V1Job): number | undefined {
  const completed = isoTime(job.status?.completionTime);
  if (completed !== undefined) return Date.parse(completed);
  const condition = (job.status?.conditions ?? []).find(
    (c) =>
      c.status === 'True' &&
      ['Complete', 'SuccessCriteriaMet', 'Failed', 'FailureTarget'].includes(c.type),
  );
  const at = isoTime(condition?.lastTransitionTime);
  return at === undefined ? undefined : Date.parse(at);
}

/** A pod's failure in one line: the container's termination reason and exit code, or the pod's reason. */
export function podFailureReason(pod: V1Pod): string | undefined {
  for (const status of pod.status?.containerStatuses ?? []) {
    const terminated = status.state?.terminated ?? status.lastState?.terminated;
    if (terminated !== undefined && terminated.exitCode !== 0) {
      const tail = terminated.message?.trim();
      const message = tail === undefined ? undefined : (stageFailureIn(tail) ?? tail);
      const exited = `${terminated.reason ?? 'Error'} (exit code ${terminated.exitCode})`;
      return message ? `${exited}: ${message}` : exited;
    }
    const waiting = status.state?.waiting;
    if (waiting?.reason !== undefined && waiting.reason !== 'ContainerCreating') {
      return `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
    }
  }
  if (pod.status?.reason)
    return `${pod.status.reason}${pod.status.message ? `: ${pod.status.message}` : ''}`;
  return undefined;
}
