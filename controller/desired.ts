/**
 * What should exist in the cluster for one MLPipeline, as pure functions of
 * its spec and the deployment's settings: the ConfigMap stage pods read the
 * pipeline from, and one CronJob per stage holding that stage's Job template.
 *
 * The controller is the scheduler. It plans slots with core/schedule (the same
 * missedRuns, startingDeadlineSeconds, concurrency rules and run ids as
 * single-container mode) and creates every Job itself, named from the run id.
 * So every CronJob is suspended: Kubernetes' CronJob controller would start a
 * Job named after the minute, with no run id, beside the controller's own Job
 * for the same slot, and knows nothing of missedRuns. A CronJob that starts
 * runs still carries its real schedule and time zone, so `kubectl get
 * cronjobs` shows when each stage runs; the others carry a schedule that never
 * fires, so that unsuspending one by hand starts nothing either. spec.suspend
 * is carried out by the planner and shown in the Suspended condition.
 *
 * The pod learns its run id from its own annotation through the downward API,
 * so the template is the same for every run and a Job differs from its
 * CronJob's template only in metadata, as with `kubectl create job --from`.
 */
import { createHash } from 'node:crypto';

import type {
  V1ConfigMap,
  V1Container,
  V1CronJob,
  V1EnvFromSource,
  V1EnvVar,
  V1ObjectMeta,
  V1OwnerReference,
  V1PodSpec,
  V1ResourceRequirements,
  V1Volume,
} from '@kubernetes/client-node';
import { stringify } from 'yaml';

import { secretEnvPrefix } from '../core/config.js';
import type { StageName } from '../core/ports.js';
import { STAGE_ORDER } from '../core/schedule/index.js';
import type { MLPipelineSpec, SourceSpec, StageSettings } from '../core/spec/types.generated.js';
import { checkSchedules } from '../core/spec/semantic.js';
import type { SpecProblem } from '../core/spec/validate.js';
import { canonicalJson, sameJson } from './json.js';
import {
  ANNOTATION_RUN_ID,
  API_VERSION,
  configMapName,
  cronJobName,
  KIND,
  LABEL_PIPELINE,
  LABEL_STAGE,
  OWNED_KEY_PREFIX,
} from './names.js';
import { quantityValue } from './quantity.js';

/** The MLPipeline as the controller reads it from the API server. */
export interface PipelineObject {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  /** Validated by the API server, defaults filled in. */
  spec: MLPipelineSpec;
}

/** The deployment's side of every stage pod, from the controller's own configuration. */
export interface ControllerSettings {
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** The stage pods' own ServiceAccount, not the controller's. */
  stageServiceAccount: string;
  /** The deployment's results database: a Secret with url or host, port, user, password, database. */
  databaseSecret?: string;
  /** The deployment's model store, for pipelines without spec.modelStore.s3. */
  s3?: {
    bucket: string;
    prefix: string;
    endpoint?: string;
    region?: string;
    /** A Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally AWS_SESSION_TOKEN. */
    credentialsSecret?: string;
  };
}

export const STAGE_CONTAINER = 'stage';
export const PIPELINE_DIR = '/etc/mlpipeline';
export const PIPELINE_FILE_KEY = 'pipeline.yaml';
/** Embedded storage of a stage pod without a database Secret: scratch space, gone with the pod. */
export const POD_DATA_DIR = '/tmp/mlpipeline';
/** February 31st: a valid five-field schedule that never fires. */
export const NEVER_SCHEDULE = '0 0 31 2 *';
/**
 * The node user of the Node.js base images. A numeric user, because the
 * kubelet refuses runAsNonRoot for an image whose user is a name.
 */
export const STAGE_USER_ID = 1000;

/**
 * Keys of a connection Secret, as the CRD documents them, and the variable
 * suffix each becomes (rds: url -> RDS_URL). A Secret written with the
 * upper-case suffixes as keys works too, through envFrom with the prefix.
 */
const CONNECTION_SECRET_KEYS = ['url', 'host', 'port', 'user', 'password', 'database', 'ssl'];
const DEFAULT_DATABASE_ENV_PREFIX = 'MYSQL';
const S3_CREDENTIAL_KEYS = [
  { key: 'AWS_ACCESS_KEY_ID', optional: false },
  { key: 'AWS_SECRET_ACCESS_KEY', optional: false },
  { key: 'AWS_SESSION_TOKEN', optional: true },
];

const TMP_VOLUME = 'tmp';
const PIPELINE_VOLUME = 'pipeline';

/** The MLPipeline as controlling owner: deleting it deletes what it owns. */
export function ownerReference(pipeline: Pick<PipelineObject, 'name' | 'uid'>): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: pipeline.name,
    uid: pipeline.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** True when uid is obj's controlling owner; anything else with our name is not ours to touch. */
export function isOwnedBy(obj: { metadata?: V1ObjectMeta }, uid: string): boolean {
  return (obj.metadata?.ownerReferences ?? []).some((ref) => ref.uid === uid && ref.controller);
}

function pipelineLabels(pipeline: string, stage?: StageName): Record<string, string> {
  return stage === undefined
    ? { [LABEL_PIPELINE]: pipeline }
    : { [LABEL_PIPELINE]: pipeline, [LABEL_STAGE]: stage };
}

/**
 * The ConfigMap stage pods read the pipeline from: the whole MLPipeline
 * document, keys sorted so that the same spec always gives the same text.
 */
export function desiredConfigMap(pipeline: PipelineObject): V1ConfigMap {
  const document = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: pipeline.name, namespace: pipeline.namespace },
    spec: JSON.parse(canonicalJson(pipeline.spec)) as unknown,
  };
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: configMapName(pipeline.name),
      namespace: pipeline.namespace,
      labels: pipelineLabels(pipeline.name),
      ownerReferences: [ownerReference(pipeline)],
    },
    data: { [PIPELINE_FILE_KEY]: stringify(document, { sortMapEntries: true }) },
  };
}

export function configMapNeedsUpdate(actual: V1ConfigMap, desired: V1ConfigMap): boolean {
  return !sameJson(
    [ownedEntries(actual.metadata?.labels), actual.data ?? {}],
    [ownedEntries(desired.metadata?.labels), desired.data ?? {}],
  );
}

/**
 * What a cluster cannot run although the schema allows it: each stage runs in
 * a pod of its own, so data between stages must travel through S3, and a
 * local file is in no pod.
 */
export function clusterSpecProblems(
  spec: MLPipelineSpec,
  settings: ControllerSettings,
): SpecProblem[] {
  // The API server checks the schema only: a schedule that does not parse or a
  // zone that does not exist would otherwise fail every pass without a word.
  const problems: SpecProblem[] = checkSchedules(spec);
  if (spec.modelStore?.dir !== undefined) {
    problems.push({
      path: 'spec.modelStore.dir',
      message:
        'a local folder works in single-container mode only: stage pods pass data through spec.modelStore.s3 or the deployment S3 store',
    });
  } else if (spec.modelStore?.s3 === undefined && settings.s3 === undefined) {
    problems.push({
      path: 'spec.modelStore',
      message:
        'not set and the deployment has no S3 store, so stage pods cannot pass data to each other: set spec.modelStore.s3',
    });
  }
  const sources: [string, SourceSpec | undefined][] = [
    ['spec.source', spec.source],
    ['spec.predict.source', spec.predict.source],
  ];
  for (const [path, source] of sources) {
    const csv = source?.csv?.path;
    if (csv !== undefined && !csv.startsWith('s3://')) {
      problems.push({
        path: `${path}.csv.path`,
        message: `"${csv}" is a local file, which stage pods do not have: use an s3://bucket/key object`,
      });
    }
  }
  return problems;
}

/** The schedule a stage's CronJob carries: its own when it starts runs, else one that never fires. */
function stageSchedule(spec: MLPipelineSpec, stage: StageName): string {
  if (stage === 'collect') return spec.schedule;
  return spec.stages?.[stage]?.schedule ?? NEVER_SCHEDULE;
}

/** Connection Secrets a stage reads, by least privilege: clean and train touch no database of the pipeline's. */
function stageConnectionSecrets(spec: MLPipelineSpec, stage: StageName): string[] {
  const names: (string | undefined)[] = [];
  if (stage === 'collect') names.push(spec.source.mysql?.connectionSecretRef?.name);
  if (stage === 'predict') {
    names.push((spec.predict.source ?? spec.source).mysql?.connectionSecretRef?.name);
    names.push(spec.predict.sink?.mysql.connectionSecretRef?.name);
  }
  return [...new Set(names.filter((name) => name !== undefined))].sort();
}

/** A database Secret as variables under prefix, by reference only. */
function databaseSecretEnv(
  secret: string,
  prefix: string,
): { envFrom: V1EnvFromSource; env: V1EnvVar[] } {
  return {
    envFrom: { prefix: `${prefix}_`, secretRef: { name: secret } },
    env: CONNECTION_SECRET_KEYS.map((key) => ({
      name: `${prefix}_${key.toUpperCase()}`,
      valueFrom: { secretKeyRef: { name: secret, key, optional: true } },
    })),
  };
}

function stageEnvironment(
  pipeline: PipelineObject,
  stage: StageName,
  settings: ControllerSettings,
): { env: V1EnvVar[]; envFrom: V1EnvFromSource[] } {
  const env: V1EnvVar[] = [
    { name: 'MLP_PIPELINE', value: pipeline.name },
    { name: 'MLP_PIPELINE_FILE', value: `${PIPELINE_DIR}/${PIPELINE_FILE_KEY}` },
    {
      name: 'MLP_RUN_ID',
      valueFrom: {
        fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${ANNOTATION_RUN_ID}']` },
      },
    },
    // The root filesystem is read-only; without a database the embedded one lives in scratch space.
    { name: 'MLPIPELINE_DATA_DIR', value: POD_DATA_DIR },
  ];
  const envFrom: V1EnvFromSource[] = [];

  const s3 = settings.s3;
  if (s3 !== undefined) {
    env.push({ name: 'S3_BUCKET', value: s3.bucket }, { name: 'S3_PREFIX', value: s3.prefix });
    if (s3.endpoint !== undefined) env.push({ name: 'S3_ENDPOINT', value: s3.endpoint });
    if (s3.region !== undefined) env.push({ name: 'S3_REGION', value: s3.region });
    const credentials = s3.credentialsSecret;
    if (credentials !== undefined) {
      for (const { key, optional } of S3_CREDENTIAL_KEYS) {
        env.push({
          name: key,
          valueFrom: { secretKeyRef: { name: credentials, key, optional } },
        });
      }
    }
  }

  // Later entries win on a shared prefix: a connectionSecretRef named "mysql" is that Secret.
  const databases = new Map<string, string>();
  if (settings.databaseSecret !== undefined) {
    databases.set(DEFAULT_DATABASE_ENV_PREFIX, settings.databaseSecret);
  }
  for (const name of stageConnectionSecrets(pipeline.spec, stage)) {
    databases.set(secretEnvPrefix(name), name);
  }
  for (const [prefix, secret] of databases) {
    const fromSecret = databaseSecretEnv(secret, prefix);
    envFrom.push(fromSecret.envFrom);
    env.push(...fromSecret.env);
  }

  return { env, envFrom };
}

function stageResources(settings: StageSettings | undefined): V1ResourceRequirements | undefined {
  const asStrings = (list: Record<string, number | string | undefined> | undefined) => {
    if (list === undefined) return undefined;
    const entries = Object.entries(list).filter(([, v]) => v !== undefined);
    return entries.length === 0
      ? undefined
      : Object.fromEntries(entries.map(([k, v]) => [k, String(v)]));
  };
  const requests = asStrings(settings?.resources?.requests);
  const limits = asStrings(settings?.resources?.limits);
  if (requests === undefined && limits === undefined) return undefined;
  return { ...(requests && { requests }), ...(limits && { limits }) };
}

function stagePodSpec(
  pipeline: PipelineObject,
  stage: StageName,
  settings: ControllerSettings,
): V1PodSpec {
  const { env, envFrom } = stageEnvironment(pipeline, stage, settings);
  const resources = stageResources(pipeline.spec.stages?.[stage]);
  const container: V1Container = {
    name: STAGE_CONTAINER,
    image: settings.image,
    imagePullPolicy: settings.imagePullPolicy,
    command: ['mlpipeline', 'stage', stage],
    // A stage reports why it failed in its log, and writes no termination-message file:
    // with this, the kubelet puts the log's tail in the pod status, where status reads it.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    env,
    ...(envFrom.length > 0 && { envFrom }),
    ...(resources && { resources }),
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: TMP_VOLUME, mountPath: '/tmp' },
      { name: PIPELINE_VOLUME, mountPath: PIPELINE_DIR, readOnly: true },
    ],
  };
  const volumes: V1Volume[] = [
    { name: TMP_VOLUME, emptyDir: {} },
    { name: PIPELINE_VOLUME, configMap: { name: configMapName(pipeline.name) } },
  ];
  return {
    restartPolicy: 'Never',
    serviceAccountName: settings.stageServiceAccount,
    // Stages never call the API server; a token in the pod would only be something to steal.
    automountServiceAccountToken: false,
    // Service links would add MYSQL_PORT=tcp://... for a Service named mysql, and the
    // database settings would then be read as conflicting.
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: STAGE_USER_ID,
      runAsGroup: STAGE_USER_ID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [container],
    volumes,
  };
}

/** One CronJob per stage, in stage order, each owned by the MLPipeline. */
export function desiredCronJobs(
  pipeline: PipelineObject,
  settings: ControllerSettings,
): V1CronJob[] {
  const { spec } = pipeline;
  return STAGE_ORDER.map((stage): V1CronJob => {
    const labels = pipelineLabels(pipeline.name, stage);
    const stageSettings = spec.stages?.[stage];
    const deadline = stageSettings?.activeDeadlineSeconds;
    return {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: {
        name: cronJobName(pipeline.name, stage),
        namespace: pipeline.namespace,
        labels,
        ownerReferences: [ownerReference(pipeline)],
      },
      spec: {
        schedule: stageSchedule(spec, stage),
        timeZone: spec.timeZone,
        suspend: true,
        concurrencyPolicy: spec.concurrencyPolicy,
        startingDeadlineSeconds: spec.startingDeadlineSeconds,
        successfulJobsHistoryLimit: spec.historyLimit,
        failedJobsHistoryLimit: spec.historyLimit,
        jobTemplate: {
          metadata: { labels },
          spec: {
            backoffLimit: stageSettings?.retries ?? 0,
            ...(deadline !== undefined && { activeDeadlineSeconds: deadline }),
            template: {
              metadata: { labels },
              spec: stagePodSpec(pipeline, stage, settings),
            },
          },
        },
      },
    };
  });
}

/** The labels or annotations the controller owns, and only those. */
function ownedEntries(map: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(map ?? {}).filter(([key]) => key.startsWith(OWNED_KEY_PREFIX)),
  );
}

function projectQuantities(list: Record<string, string> | undefined) {
  const entries = Object.entries(list ?? {});
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([k, v]) => [k, quantityValue(v) ?? v]));
}

const emptyAsUndefined = (value: string | undefined) => (value === '' ? undefined : value);

/**
 * The fields of a container the controller sets, with the API server's
 * defaults written out, so a stored copy and a freshly built one project the
 * same. Fields nobody sets here (probes, ports...) are left out.
 */
function projectContainer(container: V1Container) {
  return {
    name: container.name,
    image: container.image,
    imagePullPolicy: container.imagePullPolicy,
    command: container.command,
    args: container.args?.length ? container.args : undefined,
    workingDir: emptyAsUndefined(container.workingDir),
    terminationMessagePolicy: container.terminationMessagePolicy ?? 'File',
    env: (container.env ?? []).map((variable) => {
      const from = variable.valueFrom;
      return {
        name: variable.name,
        value: emptyAsUndefined(variable.value),
        fieldRef: from?.fieldRef && {
          apiVersion: from.fieldRef.apiVersion ?? 'v1',
          fieldPath: from.fieldRef.fieldPath,
        },
        secretKeyRef: from?.secretKeyRef,
        configMapKeyRef: from?.configMapKeyRef,
        resourceFieldRef: from?.resourceFieldRef,
      };
    }),
    envFrom: (container.envFrom ?? []).map((source) => ({
      prefix: emptyAsUndefined(source.prefix),
      secretRef: source.secretRef,
      configMapRef: source.configMapRef,
    })),
    requests: projectQuantities(container.resources?.requests),
    limits: projectQuantities(container.resources?.limits),
    securityContext: container.securityContext && {
      allowPrivilegeEscalation: container.securityContext.allowPrivilegeEscalation,
      readOnlyRootFilesystem: container.securityContext.readOnlyRootFilesystem,
      runAsNonRoot: container.securityContext.runAsNonRoot,
      runAsUser: container.securityContext.runAsUser,
      runAsGroup: container.securityContext.runAsGroup,
      privileged: container.securityContext.privileged,
      capabilities: container.securityContext.capabilities,
    },
    volumeMounts: (container.volumeMounts ?? []).map((mount) => ({
      name: mount.name,
      mountPath: mount.mountPath,
      readOnly: mount.readOnly ?? false,
      subPath: emptyAsUndefined(mount.subPath),
    })),
  };
}

function projectVolume(volume: V1Volume) {
  const kinds = Object.keys(volume).filter((key) => key !== 'name');
  return {
    name: volume.name,
    // A volume turned into another kind (a hostPath, say) must count as a change.
    kinds: kinds.sort(),
    emptyDir: volume.emptyDir && {
      medium: emptyAsUndefined(volume.emptyDir.medium),
      sizeLimit: volume.emptyDir.sizeLimit && quantityValue(volume.emptyDir.sizeLimit),
    },
    configMap: volume.configMap && {
      name: volume.configMap.name,
      defaultMode: volume.configMap.defaultMode ?? 0o644,
      optional: volume.configMap.optional,
      items: volume.configMap.items,
    },
  };
}

function projectPodSpec(spec: V1PodSpec | undefined) {
  const security = spec?.securityContext;
  return {
    restartPolicy: spec?.restartPolicy ?? 'Always',
    serviceAccountName: spec?.serviceAccountName ?? spec?.serviceAccount,
    automountServiceAccountToken: spec?.automountServiceAccountToken,
    enableServiceLinks: spec?.enableServiceLinks ?? true,
    securityContext: {
      runAsNonRoot: security?.runAsNonRoot,
      runAsUser: security?.runAsUser,
      runAsGroup: security?.runAsGroup,
      fsGroup: security?.fsGroup,
      seccompProfile: security?.seccompProfile,
    },
    initContainers: (spec?.initContainers ?? []).map(projectContainer),
    containers: (spec?.containers ?? []).map(projectContainer),
    volumes: (spec?.volumes ?? []).map(projectVolume),
  };
}

/**
 * The fields of a CronJob the controller owns, normalised: the defaults the
 * API server fills in (suspend false, backoffLimit 6, restartPolicy Always,
 * defaultMode 0644, a fieldRef's apiVersion v1...) are written out on both
 * sides, and quantities are compared by value.
 */
function projectCronJob(cronJob: V1CronJob) {
  const spec = cronJob.spec;
  const job = spec?.jobTemplate;
  const pod = job?.spec?.template;
  const owner = (cronJob.metadata?.ownerReferences ?? []).find((ref) => ref.controller);
  return {
    labels: ownedEntries(cronJob.metadata?.labels),
    annotations: ownedEntries(cronJob.metadata?.annotations),
    owner: owner && {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      name: owner.name,
      uid: owner.uid,
      blockOwnerDeletion: owner.blockOwnerDeletion ?? false,
    },
    schedule: spec?.schedule,
    timeZone: spec?.timeZone,
    suspend: spec?.suspend ?? false,
    concurrencyPolicy: spec?.concurrencyPolicy ?? 'Allow',
    startingDeadlineSeconds: spec?.startingDeadlineSeconds,
    successfulJobsHistoryLimit: spec?.successfulJobsHistoryLimit ?? 3,
    failedJobsHistoryLimit: spec?.failedJobsHistoryLimit ?? 1,
    jobLabels: ownedEntries(job?.metadata?.labels),
    jobAnnotations: ownedEntries(job?.metadata?.annotations),
    backoffLimit: job?.spec?.backoffLimit ?? 6,
    activeDeadlineSeconds: job?.spec?.activeDeadlineSeconds,
    ttlSecondsAfterFinished: job?.spec?.ttlSecondsAfterFinished,
    podLabels: ownedEntries(pod?.metadata?.labels),
    podAnnotations: ownedEntries(pod?.metadata?.annotations),
    pod: projectPodSpec(pod?.spec),
  };
}

/**
 * Whether actual differs from desired in a field the controller owns. Fields
 * the API server defaults, labels others add and status never count, so a
 * resync with no spec change writes nothing.
 */
export function cronJobNeedsUpdate(actual: V1CronJob, desired: V1CronJob): boolean {
  return comparisonKey(actual) !== comparisonKey(desired);
}

/** Trimmed CronJobs keep only a digest of what they are compared by. */
const comparisonKeys = new WeakMap<V1CronJob, string>();

function comparisonKey(cronJob: V1CronJob): string {
  return (
    comparisonKeys.get(cronJob) ??
    createHash('sha256')
      .update(canonicalJson(projectCronJob(cronJob)))
      .digest('base64')
  );
}

/**
 * Replaces a cached CronJob's spec by the text cronJobNeedsUpdate compares.
 * The controller reads a CronJob's spec back only to compare it (Jobs are
 * built from the desired template, never from the cache), and the pod
 * template is most of the object: with thousands of pipelines, most of the
 * controller's memory.
 */
export function trimCronJob(cronJob: V1CronJob): void {
  if (cronJob.spec === undefined) return;
  comparisonKeys.set(cronJob, comparisonKey(cronJob));
  delete cronJob.spec;
}

/**
 * The object to send as an update of actual: desired's spec, our labels and
 * owner merged into actual's metadata (resourceVersion kept, so a concurrent
 * change makes the update fail and the pass retry), others' labels kept.
 */
export function cronJobUpdate(actual: V1CronJob, desired: V1CronJob): V1CronJob {
  const merge = (mine: Record<string, string> | undefined, theirs?: Record<string, string>) => {
    const kept = Object.entries(theirs ?? {}).filter(([key]) => !key.startsWith(OWNED_KEY_PREFIX));
    return { ...Object.fromEntries(kept), ...mine };
  };
  const desiredOwner = desired.metadata?.ownerReferences ?? [];
  const otherOwners = (actual.metadata?.ownerReferences ?? []).filter(
    (ref) => !ref.controller && !desiredOwner.some((mine) => mine.uid === ref.uid),
  );
  return {
    ...actual,
    metadata: {
      ...actual.metadata,
      labels: merge(desired.metadata?.labels, actual.metadata?.labels),
      annotations: merge(desired.metadata?.annotations, actual.metadata?.annotations),
      ownerReferences: [...otherOwners, ...desiredOwner],
    },
    spec: desired.spec,
  };
}
