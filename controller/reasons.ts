/**
 * Every reason the controller writes, in conditions and in Events, with what
 * it means. A condition and the Event that reports the same problem use the
 * same reason, so `kubectl get events --field-selector reason=...` finds both.
 */
export const Reason = {
  /** Ready: the ConfigMap and all four CronJobs exist and are ours. */
  CronJobsReady: 'CronJobsReady',
  /** Ready: some of our objects do not exist yet; they are being created. */
  CronJobsPending: 'CronJobsPending',
  /** Ready, Degraded: an object with one of our names is owned by something else; it is left alone. */
  ObjectNotOurs: 'ObjectNotOurs',
  /** Ready, Degraded: the spec passed the schema but cannot run in a cluster; fixing the spec is the only way out. */
  InvalidSpec: 'InvalidSpec',

  /** Suspended: spec.suspend is true; no new run starts, a started one finishes. */
  Suspended: 'Suspended',
  /** Suspended (False): runs start on schedule. */
  Scheduling: 'Scheduling',
  /** Event: spec.suspend went from true to false. */
  Resumed: 'Resumed',

  /** Degraded (False): nothing is wrong. */
  NoFailures: 'NoFailures',
  /** Degraded, Event: the newest finished run failed. */
  RunFailed: 'RunFailed',
  /**
   * Degraded, Event: a running stage's pod cannot start its container (a
   * missing Secret, an image that cannot be pulled); the run waits until
   * someone fixes it or the stage's deadline ends it.
   */
  StageCannotStart: 'StageCannotStart',

  /** ModelPromoted: a model version is current. */
  ModelPromoted: 'ModelPromoted',
  /** ModelPromoted (False): no run has promoted a model yet. */
  NoModelYet: 'NoModelYet',

  /** Event: a run's first Job exists. */
  RunStarted: 'RunStarted',
  /** Event: a run finished its last stage. */
  RunSucceeded: 'RunSucceeded',
  /** Event: a slot was not run (missed, or another run was still going); the message says why. */
  RunSkipped: 'RunSkipped',
  /** Event: a run's Jobs were deleted because a newer run started (concurrencyPolicy Replace). */
  RunReplaced: 'RunReplaced',
  /** Event: a stage's Job completed. */
  StageSucceeded: 'StageSucceeded',
  /** Event: a stage's Job failed after its retries; the run ends there. */
  StageFailed: 'StageFailed',
  /** Event: the run-now annotation holds something that is not a time. */
  InvalidRunNow: 'InvalidRunNow',
} as const;

export type Reason = (typeof Reason)[keyof typeof Reason];
