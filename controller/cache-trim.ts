/**
 * What the informers' caches keep of each object. The caches hold every
 * CronJob, Job and Pod of every pipeline, and most of each is a pod template
 * or pod spec the controller never reads: its decisions use metadata, Job
 * status and the few Job spec fields below, and pod status. Trimming happens
 * as an object enters the cache, so the full object is garbage at once.
 */
import type { KubernetesObject, V1Job, V1PodTemplateSpec, V1Pod } from '@kubernetes/client-node';

// CronJobs are trimmed next to the comparison they keep: trimCronJob in desired.ts.

/** Server bookkeeping of who set which field: often half an object, never read. */
export function trimMetadata(obj: KubernetesObject): void {
  if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
}

const NO_TEMPLATE: V1PodTemplateSpec = Object.freeze({});

/** A Job keeps the spec fields its phase depends on (runs.ts); its pod template goes. */
export function trimJob(job: V1Job): void {
  const spec = job.spec;
  if (spec === undefined || spec.template === NO_TEMPLATE) return;
  job.spec = {
    template: NO_TEMPLATE,
    ...(spec.completions !== undefined && { completions: spec.completions }),
    ...(spec.successPolicy !== undefined && { successPolicy: spec.successPolicy }),
    ...(spec.backoffLimit !== undefined && { backoffLimit: spec.backoffLimit }),
  };
}

/** A pod is read for its labels, owner and status only. */
export function trimPod(pod: V1Pod): void {
  delete pod.spec;
}
