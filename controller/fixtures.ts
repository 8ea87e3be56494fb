/**
 * Builders shared by the controller's tests: a pipeline as the API server
 * returns it (defaults filled in), Jobs in each phase built by the production
 * builders, and a CronJob as the API server stores it.
 */
import type { V1CronJob, V1Job, V1JobCondition, V1Pod } from '@kubernetes/client-node';

import type { StageName } from '../core/ports.js';
import type { MLPipelineSpec } from '../core/spec/types.generated.js';
import { stageJob } from './chaining.js';
import type { ControllerSettings, PipelineObject } from './desired.js';

export const SPEC: MLPipelineSpec = {
  schedule: '*/2 * * * *',
  timeZone: 'Etc/UTC',
  suspend: false,
  concurrencyPolicy: 'Forbid',
  startingDeadlineSeconds: 60,
  missedRuns: { policy: 'RunLatest', limit: 10 },
  historyLimit: 20,
  source: {
    mysql: {
      table: 'iris_measurements',
      batchSize: 10000,
      connectionSecretRef: { name: 'rds' },
    },
  },
  features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
  label: 'species',
  clean: { dropMissing: true, dropDuplicates: true, standardize: true, minRows: 10 },
  train: {
    algorithm: 'softmax-lbfgs',
    params: { learningRate: 0.1, numSteps: 2000, l2: 0.0001, tolerance: 0.000001 },
    testFraction: 0.2,
    seed: 42,
    promotion: { metric: 'accuracy', minimum: 0.9, allowRegression: false },
  },
  modelStore: { s3: { bucket: 'models', prefix: 'iris/', region: 'us-east-1' } },
  predict: {
    source: {
      mysql: { table: 'iris_incoming', batchSize: 10000, connectionSecretRef: { name: 'rds' } },
    },
    sink: { mysql: { table: 'predictions', connectionSecretRef: { name: 'results-db' } } },
  },
  stages: {
    train: { schedule: '0 3 * * *', retries: 2, activeDeadlineSeconds: 600 },
    predict: { retries: 0, resources: { limits: { memory: '256Mi' }, requests: { cpu: '0.5' } } },
  },
};

export const SETTINGS: ControllerSettings = {
  image: 'mlpipeline:test',
  imagePullPolicy: 'IfNotPresent',
  stageServiceAccount: 'mlpipeline-stage',
  databaseSecret: 'mlpipeline-db',
  s3: {
    bucket: 'artifacts',
    prefix: 'pipelines/',
    endpoint: 'http://object-store.invalid',
    region: 'us-east-1',
    credentialsSecret: 'mlpipeline-s3',
  },
};

export function pipeline(
  spec: Partial<MLPipelineSpec> = {},
  meta: Partial<Omit<PipelineObject, 'spec'>> = {},
): PipelineObject {
  return {
    name: 'iris',
    namespace: 'ml',
    uid: '6f1c2a7e-0000-4000-8000-000000000001',
    generation: 1,
    ...meta,
    spec: { ...structuredClone(SPEC), ...spec },
  };
}

export interface JobState {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  startTime?: string;
  endTime?: string;
  /** The Failed condition's reason and message. */
  failure?: { reason: string; message: string };
}

/** The Job the controller would create for runId and stage, in the given state. */
export function job(p: PipelineObject, runId: string, stage: StageName, state: JobState): V1Job {
  const built = stageJob(p, SETTINGS, runId, stage);
  built.metadata = { ...built.metadata, creationTimestamp: new Date(state.startTime ?? 0) };
  const conditions: V1JobCondition[] = [];
  if (state.phase === 'Succeeded') {
    conditions.push({ type: 'Complete', status: 'True', lastTransitionTime: at(state.endTime) });
  }
  if (state.phase === 'Failed') {
    conditions.push({
      type: 'Failed',
      status: 'True',
      lastTransitionTime: at(state.endTime),
      ...state.failure,
    });
  }
  built.status = {
    ...(state.startTime && { startTime: new Date(state.startTime) }),
    ...(state.phase === 'Running' && { active: 1 }),
    ...(state.phase === 'Succeeded' && { succeeded: 1, completionTime: at(state.endTime) }),
    ...(state.phase === 'Failed' && { failed: 1 }),
    ...(conditions.length > 0 && { conditions }),
  };
  return built;
}

/**
 * A pod of job as the Job controller makes it (job-name label, the Job as
 * controlling owner) in a final or running phase; finishedAt is its
 * container's end, in whole seconds as a kubelet reports it.
 */
export function pod(
  of: V1Job,
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed',
  options: { finishedAt?: string; ownerUid?: string; name?: string } = {},
): V1Pod {
  const jobName = of.metadata?.name ?? '';
  const ownerUid = options.ownerUid ?? of.metadata?.uid;
  const ended = phase === 'Succeeded' || phase === 'Failed';
  return {
    metadata: {
      name: options.name ?? `${jobName}-x7k2p`,
      namespace: of.metadata?.namespace,
      uid: `pod-${options.name ?? jobName}`,
      labels: {
        ...of.spec?.template.metadata?.labels,
        'batch.kubernetes.io/job-name': jobName,
        'job-name': jobName,
      },
      ...(ownerUid !== undefined && {
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name: jobName, uid: ownerUid, controller: true },
        ],
      }),
    },
    status: {
      phase,
      ...(ended && {
        containerStatuses: [
          {
            name: 'stage',
            image: 'mlpipeline:test',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: {
              terminated: {
                exitCode: phase === 'Succeeded' ? 0 : 1,
                reason: phase === 'Succeeded' ? 'Completed' : 'Error',
                ...(options.finishedAt && { finishedAt: new Date(options.finishedAt) }),
              },
            },
          },
        ],
      }),
    },
  };
}

function at(iso: string | undefined): Date | undefined {
  return iso === undefined ? undefined : new Date(iso);
}

/**
 * cronJob as the API server returns it: server-set metadata, every default
 * Kubernetes fills in, quantities in canonical form, and a status.
 */
export function apiDefaulted(cronJob: V1CronJob): V1CronJob {
  const stored = structuredClone(cronJob);
  stored.metadata = {
    ...stored.metadata,
    uid: 'c0ffee00-0000-4000-8000-000000000002',
    resourceVersion: '4711',
    generation: 3,
    creationTimestamp: new Date('2026-12-01T00:00:00Z'),
    labels: { ...stored.metadata?.labels, 'team.example/owner': 'data' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    managedFields: [{ manager: 'mlpipeline', operation: 'Update' }],
  };
  const spec = stored.spec!;
  spec.concurrencyPolicy ??= 'Allow';
  spec.suspend ??= false;
  spec.successfulJobsHistoryLimit ??= 3;
  spec.failedJobsHistoryLimit ??= 1;
  const jobSpec = spec.jobTemplate.spec!;
  spec.jobTemplate.metadata = { creationTimestamp: undefined, ...spec.jobTemplate.metadata };
  jobSpec.backoffLimit ??= 6;
  jobSpec.completions = 1;
  jobSpec.parallelism = 1;
  jobSpec.completionMode = 'NonIndexed';
  jobSpec.suspend = false;
  jobSpec.manualSelector = undefined;
  jobSpec.podReplacementPolicy = 'TerminatingOrFailed';
  const pod = jobSpec.template.spec!;
  pod.dnsPolicy = 'ClusterFirst';
  pod.schedulerName = 'default-scheduler';
  pod.terminationGracePeriodSeconds = 30;
  pod.securityContext ??= {};
  pod.restartPolicy ??= 'Always';
  pod.serviceAccount = pod.serviceAccountName;
  pod.enableServiceLinks ??= true;
  for (const volume of pod.volumes ?? []) {
    if (volume.configMap) volume.configMap.defaultMode ??= 420;
  }
  for (const container of pod.containers) {
    container.terminationMessagePath = '/dev/termination-log';
    container.terminationMessagePolicy ??= 'File';
    container.imagePullPolicy ??= 'IfNotPresent';
    container.resources ??= {};
    for (const variable of container.env ?? []) {
      if (variable.valueFrom?.fieldRef) variable.valueFrom.fieldRef.apiVersion ??= 'v1';
    }
    for (const list of [container.resources.requests, container.resources.limits]) {
      for (const [name, value] of Object.entries(list ?? {})) {
        list![name] = canonicalQuantity(value);
      }
    }
  }
  stored.status = { lastScheduleTime: new Date('2026-12-04T15:30:00Z') };
  return stored;
}

/** The spellings the API server turns quantities into, for the values the fixtures use. */
function canonicalQuantity(value: string): string {
  const canonical: Record<string, string> = { '0.5': '500m', '1024Mi': '1Gi', '1': '1' };
  return canonical[value] ?? value;
}
