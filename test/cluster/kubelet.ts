/**
 * A local kubelet for the test control plane: it registers a Node, binds
 * every pending pod to it (there is no scheduler) and runs each container's
 * command as a local process, reporting phase, exit codes and reasons through
 * the pods/status subresource as a real kubelet would.
 *
 *   const kubelet = await startLocalKubelet({
 *     kubeconfig: cp.kubeconfig,
 *     workDir: '/tmp/kubelet',
 *     imageCommands: { mlpipeline: [process.execPath, '--import', 'tsx', 'cli/main.ts'] },
 *     env: { PATH: process.env.PATH ?? '' },
 *   });
 *   // ... pods run; logs are in podLogFile(workDir, namespace, pod, container)
 *   await kubelet.stop();
 *
 * There are no images here, so a container's program is found by name:
 *
 * - command[0] (or its last path segment: `/usr/bin/mlpipeline` is
 *   `mlpipeline`) is looked up in imageCommands, and the argv is that entry
 *   followed by the rest of command and by args. A container without a command
 *   is looked up by its image's name without registry, path and tag
 *   (`ghcr.io/org/mlpipeline:1.0` is `mlpipeline`), followed by args. An
 *   unknown name fails the pod with reason UnknownCommand.
 * - The environment is `env` from the options, HOSTNAME, then envFrom, then
 *   env, with `$(VAR)` references expanded as Kubernetes does. Nothing of the
 *   kubelet's own environment leaks in.
 * - Volumes become folders under <workDir>/pods/<namespace>/<pod>/volumes/:
 *   emptyDir an empty folder; configMap, secret, downwardAPI and projected
 *   (including a service-account token from the TokenRequest API) files with
 *   their keys or items; hostPath the host's own path. There is no mount
 *   namespace, so a process would look for /etc/mlpipeline/pipeline.yaml where
 *   nothing is: every env value, command or args element and workingDir that
 *   is a container's mountPath or begins with it followed by `/` is rewritten
 *   to the local folder (the longest mountPath wins; subPath is appended).
 *   A path inside a longer string, such as a `sh -c` script, is not rewritten.
 * - In-cluster clients: every process gets KUBERNETES_SERVICE_HOST and
 *   KUBERNETES_SERVICE_PORT naming the API server, as a kubelet sets them. A
 *   program cannot find a token mounted at
 *   /var/run/secrets/kubernetes.io/serviceaccount (the path is fixed in client
 *   libraries, not read from a variable), so a container with that mount and
 *   no KUBECONFIG of its own gets KUBECONFIG naming a file that points at the
 *   API server, the mount's ca.crt and its token: the pod's ServiceAccount is
 *   who it talks as, as in a cluster.
 * - The working directory is workingDir rewritten as above, or else a folder of
 *   the container's own, since the image's filesystem does not exist here.
 * - stdout and stderr go to <workDir>/pods/<namespace>/<pod>/logs/; the last
 *   1 KB of stderr becomes the terminated state's message, or, for a failed
 *   container with terminationMessagePolicy FallbackToLogsOnError and nothing
 *   on stderr, the last 1 KB of stdout (a real kubelet reads the merged log).
 *
 * Each container runs in a process group of its own, which stands in for the
 * container: signals go to the whole group, and when the main process exits
 * whatever it left behind is killed, as a runtime does when PID 1 of a
 * container exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, openSync, closeSync, type WriteStream } from 'node:fs';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import {
  availableParallelism,
  constants as osConstants,
  hostname,
  release,
  totalmem,
} from 'node:os';
import { join, resolve } from 'node:path';

import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  VersionApi,
  Watch,
  type V1Container,
  type V1EnvFromSource,
  type V1EnvVar,
  type V1KeyToPath,
  type V1Pod,
  type V1PodList,
  type V1Volume,
} from '@kubernetes/client-node';

export interface LocalKubeletOptions {
  /** Kubeconfig of an identity that may bind pods, write their status and manage the Node. */
  kubeconfig: string;
  /** Default: local-kubelet. */
  nodeName?: string;
  /** Folder for pod volumes, logs and kubelet.log; created if missing. */
  workDir: string;
  /**
   * Entry point name -> local argv prefix, for example
   * `{ mlpipeline: [process.execPath, '--import', 'tsx', '/repo/cli/main.ts'], sh: ['/bin/sh'] }`.
   */
  imageCommands: Record<string, string[]>;
  /** Variables every process gets before the pod's own, for example PATH. */
  env?: Record<string, string>;
  /** Upper bound on a pod's termination grace period, so tests need not wait 30 s. Default 10. */
  maxGracePeriodSeconds?: number;
}

export interface LocalKubelet {
  nodeName: string;
  /** Containers (processes) running now. */
  processes(): number;
  /** Terminates every pod as a deletion would, deletes them and the Node. */
  stop(): Promise<void>;
}

/** Where a container's output goes: <workDir>/pods/<namespace>/<pod>/logs/<container>.<stream>.log */
export function podLogFile(
  workDir: string,
  namespace: string,
  pod: string,
  container: string,
  stream: 'stdout' | 'stderr' = 'stdout',
): string {
  return join(podDir(workDir, namespace, pod), 'logs', `${container}.${stream}.log`);
}

function podDir(workDir: string, namespace: string, pod: string): string {
  return join(resolve(workDir), 'pods', namespace, pod);
}

const DEFAULT_NODE_NAME = 'local-kubelet';
const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const HEARTBEAT_MS = 10_000;
const LEASE_DURATION_SECONDS = 40;
const DEFAULT_GRACE_SECONDS = 30;
const DEFAULT_MAX_GRACE_SECONDS = 10;
const MESSAGE_BYTES = 1024;
const WATCH_TIMEOUT_SECONDS = 300;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10_000;
const API_RETRY_MS = 60_000;
const API_RETRY_STOPPING_MS = 5_000;
const HOST_IP = '127.0.0.1';
/** Exit code of a container whose program could not be found or started, as container runtimes report it. */
const START_FAILED_EXIT_CODE = 128;
/** Taints the API server puts on a new Node; the node lifecycle controller, absent here, would lift them. */
const STARTUP_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

// ---------------------------------------------------------------------------
// pure parts: names, environment, paths

/** A spec the local kubelet cannot run: the pod fails at once with this reason. */
export class PodSpecError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Something the pod refers to is missing (a Secret, a ConfigMap, a key): a
 * real kubelet keeps the container waiting with CreateContainerConfigError and
 * retries, since the object may be created later.
 */
export class PodConfigError extends Error {}

/** The name imageCommands is searched for: command[0], else the image's name. */
export function entryPointName(container: Pick<V1Container, 'command' | 'image'>): string {
  const first = container.command?.[0];
  if (first !== undefined) return first;
  const image = container.image ?? '';
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSegment = withoutDigest.split('/').pop() ?? '';
  return lastSegment.split(':')[0] ?? '';
}

/**
 * The local argv of a container, or undefined when imageCommands knows
 * neither the entry point nor its last path segment.
 */
export function resolveArgv(
  container: Pick<V1Container, 'command' | 'args' | 'image'>,
  imageCommands: Record<string, string[]>,
): string[] | undefined {
  const name = entryPointName(container);
  const prefix = imageCommands[name] ?? imageCommands[name.split('/').pop() ?? ''];
  if (prefix === undefined || prefix.length === 0) return undefined;
  const rest = container.command === undefined ? [] : container.command.slice(1);
  return [...prefix, ...rest, ...(container.args ?? [])];
}

/**
 * Kubernetes' `$(VAR)` expansion: a defined variable is replaced, an
 * undefined reference is left as written, and `$$` is a literal `$`.
 */
export function expandVariables(text: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '$' || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close === -1) {
        out += c;
        continue;
      }
      const name = text.slice(i + 2, close);
      const value = vars[name];
      out += value ?? text.slice(i, close + 1);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

/** A mountPath inside the container and the folder on this machine that stands for it. */
export interface PathMapping {
  mountPath: string;
  localPath: string;
}

/**
 * value with its leading mountPath replaced by the local folder, when value
 * is a mountPath or lies below one; the longest matching mountPath wins.
 */
export function rewritePath(value: string, mappings: readonly PathMapping[]): string {
  let best: PathMapping | undefined;
  for (const m of mappings) {
    const mount = m.mountPath.length > 1 ? m.mountPath.replace(/\/+$/, '') : m.mountPath;
    const below = mount === '/' ? value.startsWith('/') : value.startsWith(`${mount}/`);
    if (value !== mount && !below) continue;
    if (best === undefined || mount.length > best.mountPath.length) {
      best = { mountPath: mount, localPath: m.localPath };
    }
  }
  if (best === undefined) return value;
  const rest = best.mountPath === '/' ? value.slice(1) : value.slice(best.mountPath.length + 1);
  return rest === '' ? best.localPath : join(best.localPath, rest);
}

/** Where the ServiceAccount admission plugin mounts a pod's token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The variables a kubelet gives every container for the API server's Service. */
export function apiServiceEnv(server: string): Record<string, string> {
  const url = new URL(server);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return { KUBERNETES_SERVICE_HOST: url.hostname, KUBERNETES_SERVICE_PORT: port };
}

/**
 * A kubeconfig for a process whose ServiceAccount folder is accountDir on this
 * machine: what an in-cluster client would read, as a file it can be pointed
 * at. The token is named the way @kubernetes/client-node's in-cluster loader
 * names it (a tokenFile it reads again as the token is renewed). JSON, which is
 * YAML too.
 */
export function inClusterKubeconfig(server: string, accountDir: string, namespace: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'in-cluster',
        cluster: { server, 'certificate-authority': join(accountDir, 'ca.crt') },
      },
    ],
    users: [
      {
        name: 'service-account',
        user: {
          'auth-provider': {
            name: 'tokenFile',
            config: { tokenFile: join(accountDir, 'token') },
          },
        },
      },
    ],
    contexts: [
      {
        name: 'in-cluster',
        context: { cluster: 'in-cluster', user: 'service-account', namespace },
      },
    ],
    'current-context': 'in-cluster',
  });
}

/** The value of a downward-API fieldPath, as the kubelet resolves it. */
export function fieldValue(pod: V1Pod, fieldPath: string): string {
  const meta = pod.metadata ?? {};
  const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (keyed) {
    const map = keyed[1] === 'labels' ? meta.labels : meta.annotations;
    return map?.[keyed[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? '';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return formatMap(meta.labels);
    case 'metadata.annotations':
      return formatMap(meta.annotations);
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
    case 'status.podIP':
    case 'status.podIPs':
      return HOST_IP;
    default:
      throw new PodSpecError('UnsupportedField', `fieldRef ${fieldPath} is not supported`);
  }
}

/** The downward API's file format for labels and annotations: key="value" lines, sorted. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(map?.[k] ?? '')}`)
    .join('\n');
}

/** Reads Secrets and ConfigMaps as decoded text; undefined when the object does not exist. */
export interface ObjectReader {
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}

/**
 * A container's environment before path rewriting: base, HOSTNAME, envFrom,
 * then env, each env value expanded against what came before it.
 */
export async function containerEnvironment(
  pod: V1Pod,
  container: Pick<V1Container, 'env' | 'envFrom'>,
  read: ObjectReader,
  base: Record<string, string> = {},
): Promise<Record<string, string>> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const vars: Record<string, string> = { ...base, HOSTNAME: pod.metadata?.name ?? '' };

  for (const source of container.envFrom ?? []) {
    const data = await envFromData(namespace, source, read);
    for (const [key, value] of Object.entries(data)) {
      const name = `${source.prefix ?? ''}${key}`;
      // The API server accepts almost any name; only '=' would corrupt the block.
      if (!name.includes('=')) vars[name] = value;
    }
  }

  for (const entry of container.env ?? []) {
    const value = await envValue(pod, namespace, entry, read, vars);
    if (value !== undefined) vars[entry.name] = value;
  }
  return vars;
}

async function envFromData(
  namespace: string,
  source: V1EnvFromSource,
  read: ObjectReader,
): Promise<Record<string, string>> {
  if (source.secretRef) {
    const data = await read.secret(namespace, source.secretRef.name ?? '');
    if (data !== undefined) return data;
    if (source.secretRef.optional) return {};
    throw new PodConfigError(`secret "${source.secretRef.name}" not found`);
  }
  if (source.configMapRef) {
    const data = await read.configMap(namespace, source.configMapRef.name ?? '');
    if (data !== undefined) return data;
    if (source.configMapRef.optional) return {};
    throw new PodConfigError(`configmap "${source.configMapRef.name}" not found`);
  }
  return {};
}

/** One env entry's value; undefined when an optional reference is missing. */
async function envValue(
  pod: V1Pod,
  namespace: string,
  entry: V1EnvVar,
  read: ObjectReader,
  vars: Record<string, string>,
): Promise<string | undefined> {
  const from = entry.valueFrom;
  if (from === undefined) return expandVariables(entry.value ?? '', vars);

  if (from.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);

  const ref = from.secretKeyRef ?? from.configMapKeyRef;
  if (ref) {
    const kind = from.secretKeyRef ? 'secret' : 'configmap';
    const data =
      kind === 'secret'
        ? await read.secret(namespace, ref.name ?? '')
        : await read.configMap(namespace, ref.name ?? '');
    if (data === undefined) {
      if (ref.optional) return undefined;
      throw new PodConfigError(`${kind} "${ref.name}" not found`);
    }
    const value = data[ref.key];
    if (value === undefined) {
      if (ref.optional) return undefined;
      throw new PodConfigError(`couldn't find key ${ref.key} in ${kind} ${namespace}/${ref.name}`);
    }
    return value;
  }

  throw new PodSpecError(
    'UnsupportedField',
    `env ${entry.name}: only value, fieldRef, secretKeyRef and configMapKeyRef are supported`,
  );
}

/** The files of a configMap or secret volume: every key, or only the listed items. */
function keyFiles(
  data: Record<string, string>,
  items: V1KeyToPath[] | undefined,
  what: string,
  optional: boolean,
): { path: string; content: string; mode?: number }[] {
  if (items === undefined || items.length === 0) {
    return Object.entries(data).map(([key, content]) => ({ path: key, content }));
  }
  const files: { path: string; content: string; mode?: number }[] = [];
  for (const item of items) {
    const content = data[item.key];
    if (content === undefined) {
      if (optional) continue;
      throw new PodConfigError(`configuration of ${what}: key ${item.key} not found`);
    }
    files.push({ path: item.path, content, ...(item.mode !== undefined && { mode: item.mode }) });
  }
  return files;
}

// ---------------------------------------------------------------------------
// the kubelet

type LogFields = Record<string, unknown>;

interface Clients {
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  kc: KubeConfig;
}

const strategicMerge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

function loadClients(kubeconfig: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
  };
}

function statusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

function errorText(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const message = typeof body === 'string' ? body : body?.message;
    return `HTTP ${err.code}: ${message ?? err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Time as metav1.Time writes it: seconds, UTC. */
function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res) => {
    if (signal?.aborted) return res();
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      res();
    }
  });
}

function backoffMs(attempt: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** attempt);
}

function nodeArchitecture(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/**
 * Registers a Node and runs the pods bound to it as local processes; resolves
 * once the Node is Ready and the pod watch has listed every pod.
 */
export async function startLocalKubelet(opts: LocalKubeletOptions): Promise<LocalKubelet> {
  const kubelet = new Kubelet(opts);
  try {
    await kubelet.start();
  } catch (err) {
    await kubelet.stop();
    throw err;
  }
  return {
    nodeName: kubelet.nodeName,
    processes: () => kubelet.processCount(),
    stop: () => kubelet.stop(),
  };
}

class Kubelet {
  readonly nodeName: string;
  readonly workDir: string;
  readonly maxGraceSeconds: number;
  clients: Clients;
  stopping = false;

  private readonly workers = new Map<string, PodWorker>();
  /** Unbound pods by uid, so a failed binding can be tried again with the latest object. */
  private readonly unbound = new Map<string, V1Pod>();
  private readonly binding = new Set<string>();
  private readonly stopController = new AbortController();
  private heartbeat?: NodeJS.Timeout;
  private watchLoop?: Promise<void>;
  private watchAbort?: AbortController;
  private logStream?: WriteStream;
  private kubeletVersion = 'v0.0.0-local';
  private stopped?: Promise<void>;
  private readonly killAllOnExit = () => {
    for (const w of this.workers.values()) w.killNow();
  };

  constructor(readonly opts: LocalKubeletOptions) {
    this.nodeName = opts.nodeName ?? DEFAULT_NODE_NAME;
    this.workDir = resolve(opts.workDir);
    this.maxGraceSeconds = opts.maxGracePeriodSeconds ?? DEFAULT_MAX_GRACE_SECONDS;
    this.clients = loadClients(opts.kubeconfig);
  }

  log(msg: string, fields: LogFields = {}): void {
    if (!this.logStream?.writable) return;
    this.logStream.write(
      `${JSON.stringify({ time: new Date().toISOString(), node: this.nodeName, msg, ...fields })}\n`,
    );
  }

  processCount(): number {
    let n = 0;
    for (const w of this.workers.values()) n += w.runningProcesses();
    return n;
  }

  async start(): Promise<void> {
    mkdirSync(this.workDir, { recursive: true });
    this.logStream = createWriteStream(join(this.workDir, 'kubelet.log'), { flags: 'a' });
    // A lost log line must not take the test process down with it.
    this.logStream.on('error', () => undefined);
    process.on('exit', this.killAllOnExit);

    try {
      const version = await this.clients.kc.makeApiClient(VersionApi).getCode();
      this.kubeletVersion = version.gitVersion;
    } catch (err) {
      this.log('reading the server version failed', { error: errorText(err) });
    }

    await this.registerNode();
    await this.renewLease();
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();

    const listed = await this.list();
    this.watchLoop = this.watchPods(listed);
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.stopController.abort();
    clearInterval(this.heartbeat);
    this.watchAbort?.abort();
    await this.watchLoop;

    const workers = [...this.workers.values()];
    for (const w of workers) w.terminate('the local kubelet is stopping');
    await Promise.all(workers.map((w) => w.done));

    const { core, coordination } = this.clients;
    await coordination
      .deleteNamespacedLease({ name: this.nodeName, namespace: NODE_LEASE_NAMESPACE })
      .catch((err: unknown) =>
        this.log('deleting the node lease failed', { error: errorText(err) }),
      );
    await core
      .deleteNode({ name: this.nodeName })
      .catch((err: unknown) => this.log('deleting the node failed', { error: errorText(err) }));
    this.log('stopped');
    process.removeListener('exit', this.killAllOnExit);
    await new Promise<void>((res) => (this.logStream ? this.logStream.end(res) : res()));
  }

  // -------------------------------------------------------------------------
  // node

  private nodeStatus() {
    const cpu = String(availableParallelism());
    const memory = `${Math.floor(totalmem() / 1024)}Ki`;
    const resources = { cpu, memory, pods: '110', 'ephemeral-storage': '100Gi' };
    const time = now();
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: time,
      lastTransitionTime: time,
    });
    return {
      capacity: resources,
      allocatable: resources,
      conditions: [
        condition('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'no memory pressure'),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'no PID pressure'),
        condition('Ready', 'True', 'KubeletReady', 'the local kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: HOST_IP },
        { type: 'Hostname', address: this.nodeName },
      ],
      nodeInfo: {
        architecture: nodeArchitecture(),
        bootID: '',
        containerRuntimeVersion: 'local://processes',
        kernelVersion: release(),
        kubeProxyVersion: '',
        kubeletVersion: this.kubeletVersion,
        machineID: '',
        operatingSystem: 'linux',
        osImage: `local processes on ${hostname()}`,
        systemUUID: '',
      },
    };
  }

  /** Creates the Node (or adopts one of the same name), marks it Ready and lifts the startup taints. */
  private async registerNode(): Promise<void> {
    const { core } = this.clients;
    const labels = {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': nodeArchitecture(),
    };
    try {
      await core.createNode({
        body: { apiVersion: 'v1', kind: 'Node', metadata: { name: this.nodeName, labels } },
      });
      this.log('node registered');
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      this.log('node exists; taking it over');
    }

    await core.patchNodeStatus(
      { name: this.nodeName, body: { status: this.nodeStatus() } },
      strategicMerge,
    );

    const node = await core.readNode({ name: this.nodeName });
    const taints = node.spec?.taints ?? [];
    const kept = taints.filter((t) => !STARTUP_TAINTS.includes(t.key));
    if (kept.length !== taints.length) {
      await core.patchNode({ name: this.nodeName, body: { spec: { taints: kept } } }, mergePatch);
    }
  }

  private async beat(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.clients.core.patchNodeStatus(
        { name: this.nodeName, body: { status: { conditions: this.nodeStatus()?.conditions } } },
        strategicMerge,
      );
    } catch (err) {
      // An API server started afresh has lost the Node.
      if (statusCode(err) === 404) {
        await this.registerNode().catch((e: unknown) =>
          this.log('registering the node again failed', { error: errorText(e) }),
        );
      } else {
        this.log('node heartbeat failed', { error: errorText(err) });
      }
    }
    await this.renewLease().catch((err: unknown) =>
      this.log('renewing the node lease failed', { error: errorText(err) }),
    );
  }

  private async renewLease(): Promise<void> {
    const { coordination } = this.clients;
    const spec = {
      holderIdentity: this.nodeName,
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      renewTime: new V1MicroTime(),
    };
    try {
      await coordination.patchNamespacedLease(
        { name: this.nodeName, namespace: NODE_LEASE_NAMESPACE, body: { spec } },
        mergePatch,
      );
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      const node = await this.clients.core.readNode({ name: this.nodeName });
      await coordination.createNamespacedLease({
        namespace: NODE_LEASE_NAMESPACE,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: this.nodeName,
            namespace: NODE_LEASE_NAMESPACE,
            ownerReferences: [
              {
                apiVersion: 'v1',
                kind: 'Node',
                name: this.nodeName,
                uid: node.metadata?.uid ?? '',
              },
            ],
          },
          spec,
        },
      });
    }
  }

  // -------------------------------------------------------------------------
  // pods: list, watch, dispatch

  /** Lists every pod, handles each, and forgets workers whose pod is gone; returns the list's resourceVersion. */
  private async list(): Promise<string> {
    const list: V1PodList = await this.clients.core.listPodForAllNamespaces();
    const seen = new Set<string>();
    for (const pod of list.items) {
      const uid = pod.metadata?.uid;
      if (uid) seen.add(uid);
      this.handlePod(pod);
    }
    for (const [uid, worker] of this.workers) {
      if (!seen.has(uid)) this.podDeleted(uid, worker);
    }
    for (const uid of this.unbound.keys()) if (!seen.has(uid)) this.unbound.delete(uid);
    return list.metadata?.resourceVersion ?? '';
  }

  /**
   * Watches from resourceVersion, starting again where it left off when the
   * server ends the watch, and relisting with backoff when it fails or the
   * resourceVersion has expired. The kubeconfig is read again before a relist,
   * so a control plane started afresh in the same folder is found.
   */
  private async watchPods(resourceVersion: string): Promise<void> {
    let rv = resourceVersion;
    let failures = 0;
    while (!this.stopping) {
      if (rv === '') {
        await sleep(backoffMs(failures), this.stopController.signal);
        if (this.stopping) return;
        try {
          this.clients = loadClients(this.opts.kubeconfig);
          rv = await this.list();
          this.log('pods relisted', { resourceVersion: rv });
        } catch (err) {
          failures++;
          this.log('listing pods failed', { error: errorText(err), attempt: failures });
          continue;
        }
      }

      const result = await this.watchOnce(rv);
      if (result.ok) {
        rv = result.resourceVersion;
        failures = 0;
      } else {
        if (!this.stopping) this.log('pod watch ended', { error: result.error });
        rv = '';
        failures++;
      }
    }
  }

  private watchOnce(
    from: string,
  ): Promise<{ ok: true; resourceVersion: string } | { ok: false; error: string }> {
    return new Promise((res) => {
      let rv = from;
      let expired: string | undefined;
      const watch = new Watch(this.clients.kc);
      watch
        .watch(
          '/api/v1/pods',
          {
            resourceVersion: from,
            allowWatchBookmarks: true,
            timeoutSeconds: WATCH_TIMEOUT_SECONDS,
          },
          (type: string, obj: unknown) => {
            const pod = obj as V1Pod;
            if (type === 'ERROR') {
              const status = obj as { code?: number; message?: string };
              expired = `${status.code ?? '?'} ${status.message ?? ''}`;
              return;
            }
            rv = pod.metadata?.resourceVersion ?? rv;
            if (type === 'BOOKMARK') return;
            try {
              if (type === 'DELETED') {
                const uid = pod.metadata?.uid ?? '';
                this.unbound.delete(uid);
                const worker = this.workers.get(uid);
                if (worker) this.podDeleted(uid, worker);
              } else {
                this.handlePod(pod);
              }
            } catch (err) {
              this.log('handling a pod event failed', { error: errorText(err), pod: podKey(pod) });
            }
          },
          (err: unknown) => {
            this.watchAbort = undefined;
            if (expired !== undefined) res({ ok: false, error: `watch error ${expired}` });
            else if (err) res({ ok: false, error: errorText(err) });
            else res({ ok: true, resourceVersion: rv });
          },
        )
        .then((abort) => {
          this.watchAbort = abort;
          if (this.stopping) abort.abort();
        })
        .catch((err: unknown) => res({ ok: false, error: errorText(err) }));
    });
  }

  private handlePod(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid || this.stopping) return;
    const nodeName = pod.spec?.nodeName;

    if (!nodeName) {
      if (this.shouldBind(pod)) {
        this.unbound.set(uid, pod);
        void this.bind(uid, 0);
      }
      return;
    }
    this.unbound.delete(uid);
    if (nodeName !== this.nodeName) return;

    const worker = this.workers.get(uid);
    if (worker) {
      worker.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    this.workers.set(uid, new PodWorker(this, pod));
  }

  private podDeleted(uid: string, worker: PodWorker): void {
    worker.killNow();
    this.workers.delete(uid);
    this.log('pod removed', { pod: worker.key });
  }

  private shouldBind(pod: V1Pod): boolean {
    if (pod.metadata?.deletionTimestamp) return false;
    if ((pod.status?.phase ?? 'Pending') !== 'Pending') return false;
    // A scheduler would leave a pod pending whose nodeSelector this node does not match.
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': this.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': nodeArchitecture(),
    };
    return Object.entries(pod.spec?.nodeSelector ?? {}).every(([k, v]) => labels[k] === v);
  }

  private async bind(uid: string, attempt: number): Promise<void> {
    const pod = this.unbound.get(uid);
    if (pod === undefined || this.binding.has(uid) || this.stopping) return;
    const name = pod.metadata?.name ?? '';
    const namespace = pod.metadata?.namespace ?? 'default';
    this.binding.add(uid);
    try {
      await this.clients.core.createNamespacedPodBinding({
        name,
        namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, namespace, uid },
          target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName },
        },
      });
      this.unbound.delete(uid);
      this.log('pod bound', { pod: podKey(pod) });
    } catch (err) {
      const code = statusCode(err);
      // 409: bound already, by another kubelet or an earlier attempt; 404: gone.
      if (code === 409 || code === 404) {
        this.unbound.delete(uid);
        return;
      }
      this.log('binding failed', { pod: podKey(pod), error: errorText(err), attempt });
      setTimeout(() => void this.bind(uid, attempt + 1), backoffMs(attempt)).unref();
    } finally {
      this.binding.delete(uid);
    }
  }

  // -------------------------------------------------------------------------
  // API writes for workers

  /**
   * Runs an API write until it succeeds, the object is gone (false), or time
   * runs out; a short time when stopping, since the API server may be gone too.
   */
  async retryWrite(what: string, pod: string, write: () => Promise<unknown>): Promise<boolean> {
    const deadline = Date.now() + (this.stopping ? API_RETRY_STOPPING_MS : API_RETRY_MS);
    for (let attempt = 0; ; attempt++) {
      try {
        await write();
        return true;
      } catch (err) {
        if (statusCode(err) === 404) return false;
        this.log(`${what} failed`, { pod, error: errorText(err), attempt });
        if (Date.now() > deadline) return false;
        await sleep(backoffMs(attempt));
      }
    }
  }

  reader(): ObjectReader {
    const core = this.clients.core;
    const missing = (err: unknown) => {
      if (statusCode(err) === 404) return undefined;
      throw err;
    };
    return {
      secret: async (namespace, name) => {
        try {
          const s = await core.readNamespacedSecret({ name, namespace });
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(s.data ?? {})) {
            out[k] = Buffer.from(v, 'base64').toString('utf8');
          }
          return out;
        } catch (err) {
          return missing(err);
        }
      },
      configMap: async (namespace, name) => {
        try {
          const c = await core.readNamespacedConfigMap({ name, namespace });
          const out: Record<string, string> = { ...c.data };
          for (const [k, v] of Object.entries(c.binaryData ?? {})) {
            out[k] = Buffer.from(v, 'base64').toString('utf8');
          }
          return out;
        } catch (err) {
          return missing(err);
        }
      },
    };
  }
}

function podKey(pod: V1Pod): string {
  return `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
}

// ---------------------------------------------------------------------------
// one pod

type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
        containerID?: string;
      };
    };

interface ContainerRecord {
  name: string;
  image: string;
  state: ContainerState;
  containerID?: string;
}

interface PreparedContainer {
  container: V1Container;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
}

/** A running container: the process group and what it left on stderr. */
interface ContainerProcess {
  child: ChildProcess;
  exited: Promise<{ exitCode: number; stderrTail: string }>;
  alive: boolean;
}

/** Runs one pod: volumes, environment, processes, status, deletion. */
class PodWorker {
  readonly key: string;
  readonly done: Promise<void>;

  private pod: V1Pod;
  private readonly dir: string;
  private readonly processes = new Set<ContainerProcess>();
  private readonly records = new Map<string, ContainerRecord>();
  private readonly initRecords = new Map<string, ContainerRecord>();
  private readonly conditions = new Map<string, { status: string; lastTransitionTime: string }>();
  private readonly wake = new AbortController();
  private startTime?: string;
  /** Why the pod is being stopped; set once. */
  private termination?: { why: string; deletion: boolean; deadline: boolean };
  private deadlineTimer?: NodeJS.Timeout;
  private deleteSent = false;
  private finished = false;

  constructor(
    private readonly kubelet: Kubelet,
    pod: V1Pod,
  ) {
    this.pod = pod;
    this.key = podKey(pod);
    this.dir = podDir(kubelet.workDir, pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
    for (const c of pod.spec?.initContainers ?? []) {
      this.initRecords.set(c.name, {
        name: c.name,
        image: c.image ?? '',
        state: { waiting: { reason: 'PodInitializing' } },
      });
    }
    for (const c of pod.spec?.containers ?? []) {
      this.records.set(c.name, {
        name: c.name,
        image: c.image ?? '',
        state: { waiting: { reason: 'ContainerCreating' } },
      });
    }
    this.done = this.run().catch((err: unknown) => {
      this.kubelet.log('pod worker failed', { pod: this.key, error: errorText(err) });
    });
  }

  runningProcesses(): number {
    let n = 0;
    for (const p of this.processes) if (p.alive) n++;
    return n;
  }

  update(pod: V1Pod): void {
    this.pod = pod;
    if (!pod.metadata?.deletionTimestamp) return;
    if (this.finished) {
      void this.deletePod();
      return;
    }
    this.terminate('the pod is being deleted', true);
  }

  /** Stops the pod's processes: SIGTERM, then SIGKILL after the grace period. */
  terminate(why: string, deletion = true, deadline = false): void {
    if (this.termination !== undefined || this.finished) return;
    this.termination = { why, deletion, deadline };
    this.wake.abort();
    const grace = this.graceSeconds();
    this.kubelet.log('terminating pod', { pod: this.key, why, graceSeconds: grace });
    for (const p of this.processes) this.stopProcess(p, grace);
  }

  private stopProcess(p: ContainerProcess, graceSeconds: number): void {
    if (!p.alive) return;
    signalGroup(p.child, 'SIGTERM');
    const timer = setTimeout(() => {
      if (p.alive) signalGroup(p.child, 'SIGKILL');
    }, graceSeconds * 1000);
    void p.exited.then(() => clearTimeout(timer));
  }

  /** The pod object is gone: nothing to report to, so no grace either. */
  killNow(): void {
    this.termination ??= { why: 'the pod was removed', deletion: false, deadline: false };
    this.deleteSent = true;
    this.wake.abort();
    for (const p of this.processes) if (p.alive) signalGroup(p.child, 'SIGKILL');
  }

  private graceSeconds(): number {
    const fromDeletion = this.pod.metadata?.deletionGracePeriodSeconds;
    const fromSpec = this.pod.spec?.terminationGracePeriodSeconds;
    return Math.min(
      fromDeletion ?? fromSpec ?? DEFAULT_GRACE_SECONDS,
      this.kubelet.maxGraceSeconds,
    );
  }

  private async run(): Promise<void> {
    // Deleted before it started: there is nothing to stop.
    if (this.pod.metadata?.deletionTimestamp) {
      this.finished = true;
      await this.deletePod();
      return;
    }

    // A Running pod without a worker ran under an earlier kubelet of this name: its processes are gone.
    if (this.pod.status?.phase === 'Running') {
      this.failAll('Error', 'the local kubelet that ran this container is gone', 137);
      await this.finish('Failed');
      return;
    }

    this.startTime = now();
    this.setCondition('PodScheduled', 'True');
    this.armDeadline();
    await this.report('Pending');

    const prepared = await this.prepareWithRetries();
    if (prepared === undefined) return;

    for (const init of prepared.init) {
      if (this.termination) break;
      const exitCode = await this.runContainer(init, this.initRecords);
      if (exitCode !== 0) {
        this.failAll('PodInitializing', `init container ${init.container.name} failed`);
        await this.finish('Failed');
        return;
      }
    }
    this.setCondition('Initialized', 'True');

    if (this.termination) {
      this.failAll('ContainerCreating', this.termination.why);
      await this.finish('Failed');
      return;
    }
    const exits = prepared.main.map((c) => this.runContainer(c, this.records));
    await Promise.all(exits);

    const allZero = [...this.records.values()].every(
      (r) => 'terminated' in r.state && r.state.terminated.exitCode === 0,
    );
    await this.finish(allZero && !this.deadlineExceeded() ? 'Succeeded' : 'Failed');
  }

  /** Volumes and environments; waits out missing Secrets and ConfigMaps as a kubelet does. */
  private async prepareWithRetries(): Promise<
    { init: PreparedContainer[]; main: PreparedContainer[] } | undefined
  > {
    for (let attempt = 0; ; attempt++) {
      if (this.termination) {
        this.failAll('ContainerCreating', this.termination.why);
        await this.finish('Failed');
        return undefined;
      }
      try {
        const prepared = await this.prepare();
        this.setCondition('PodReadyToStartContainers', 'True');
        return prepared;
      } catch (err) {
        if (err instanceof PodSpecError) {
          this.failAll(err.reason, err.message, START_FAILED_EXIT_CODE);
          await this.finish('Failed', err.reason, err.message);
          return undefined;
        }
        const reason =
          err instanceof PodConfigError ? 'CreateContainerConfigError' : 'ContainerCreating';
        const message = errorText(err);
        this.kubelet.log('preparing the pod failed', {
          pod: this.key,
          reason,
          error: message,
          attempt,
        });
        for (const r of this.records.values()) r.state = { waiting: { reason, message } };
        await this.report('Pending');
        await sleep(backoffMs(attempt + 2), this.wake.signal);
      }
    }
  }

  private async prepare(): Promise<{ init: PreparedContainer[]; main: PreparedContainer[] }> {
    const spec = this.pod.spec;
    if (spec === undefined) throw new PodSpecError('InvalidPod', 'the pod has no spec');
    const read = this.kubelet.reader();

    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      if (resolveArgv(c, this.kubelet.opts.imageCommands) === undefined) {
        throw new PodSpecError(
          'UnknownCommand',
          `container ${c.name}: no local program for "${entryPointName(c)}" in imageCommands`,
        );
      }
    }
    if ((spec.initContainers ?? []).some((c) => c.restartPolicy === 'Always')) {
      throw new PodSpecError('Unsupported', 'sidecar init containers are not supported');
    }

    // A pod of the same name ran before (names are reused once the old pod is gone).
    await rm(this.dir, { recursive: true, force: true });
    await mkdir(join(this.dir, 'logs'), { recursive: true });
    await writeFile(join(this.dir, 'uid'), `${this.pod.metadata?.uid ?? ''}\n`);

    const mounted = new Set(
      [...(spec.initContainers ?? []), ...spec.containers].flatMap((c) =>
        (c.volumeMounts ?? []).map((m) => m.name),
      ),
    );
    const volumeDirs = new Map<string, string>();
    for (const volume of spec.volumes ?? []) {
      if (!mounted.has(volume.name)) continue;
      volumeDirs.set(volume.name, await this.materialise(volume, read));
    }

    const prepareOne = async (container: V1Container): Promise<PreparedContainer> => {
      const mappings: PathMapping[] = (container.volumeMounts ?? []).map((m) => {
        const local = volumeDirs.get(m.name);
        if (local === undefined) {
          throw new PodSpecError(
            'InvalidPod',
            `volume ${m.name} of container ${container.name} is not defined`,
          );
        }
        if (m.subPathExpr) {
          throw new PodSpecError('Unsupported', `subPathExpr of volume ${m.name} is not supported`);
        }
        return { mountPath: m.mountPath, localPath: m.subPath ? join(local, m.subPath) : local };
      });
      for (const m of mappings)
        await mkdir(m.localPath, { recursive: true }).catch(() => undefined);

      const server = this.kubelet.clients.kc.getCurrentCluster()?.server ?? '';
      const vars = await containerEnvironment(this.pod, container, read, {
        ...this.kubelet.opts.env,
        ...apiServiceEnv(server),
      });
      const env = Object.fromEntries(
        Object.entries(vars).map(([k, v]) => [k, rewritePath(v, mappings)]),
      );
      const accountDir = rewritePath(SERVICE_ACCOUNT_DIR, mappings);
      if (accountDir !== SERVICE_ACCOUNT_DIR && env.KUBECONFIG === undefined) {
        const file = join(this.dir, 'containers', `${container.name}.kubeconfig`);
        await mkdir(join(file, '..'), { recursive: true });
        await writeFile(file, inClusterKubeconfig(server, accountDir, this.ns()), { mode: 0o600 });
        env.KUBECONFIG = file;
      }
      const expanded = {
        ...container,
        command: container.command?.map((a, i) => (i === 0 ? a : expandVariables(a, vars))),
        args: container.args?.map((a) => expandVariables(a, vars)),
      };
      const argv = resolveArgv(expanded, this.kubelet.opts.imageCommands) ?? [];
      const prefixLength =
        argv.length - (expanded.command?.slice(1).length ?? 0) - (expanded.args?.length ?? 0);
      const localArgv = argv.map((a, i) => (i < prefixLength ? a : rewritePath(a, mappings)));

      let cwd = join(this.dir, 'containers', container.name);
      if (container.workingDir) {
        const rewritten = rewritePath(container.workingDir, mappings);
        if (rewritten !== container.workingDir) cwd = rewritten;
      }
      await mkdir(cwd, { recursive: true });
      return { container, argv: localArgv, env, cwd };
    };

    const init: PreparedContainer[] = [];
    for (const c of spec.initContainers ?? []) init.push(await prepareOne(c));
    const main: PreparedContainer[] = [];
    for (const c of spec.containers) main.push(await prepareOne(c));
    return { init, main };
  }

  /** Writes a volume's files under the pod's folder; returns the folder that stands for it. */
  private async materialise(volume: V1Volume, read: ObjectReader): Promise<string> {
    const namespace = this.pod.metadata?.namespace ?? 'default';
    const dir = join(this.dir, 'volumes', volume.name);

    if (volume.hostPath) return volume.hostPath.path;
    await mkdir(dir, { recursive: true });
    if (volume.emptyDir) return dir;

    const files: { path: string; content: string; mode?: number }[] = [];
    let defaultMode: number | undefined;
    if (volume.configMap) {
      const { name = '', items, optional = false } = volume.configMap;
      defaultMode = volume.configMap.defaultMode;
      const data = await read.configMap(namespace, name);
      if (data === undefined && !optional)
        throw new PodConfigError(`configmap "${name}" not found`);
      files.push(...keyFiles(data ?? {}, items, `configmap ${name}`, optional));
    } else if (volume.secret) {
      const { secretName = '', items, optional = false } = volume.secret;
      defaultMode = volume.secret.defaultMode;
      const data = await read.secret(namespace, secretName);
      if (data === undefined && !optional)
        throw new PodConfigError(`secret "${secretName}" not found`);
      files.push(...keyFiles(data ?? {}, items, `secret ${secretName}`, optional));
    } else if (volume.downwardAPI) {
      defaultMode = volume.downwardAPI.defaultMode;
      for (const item of volume.downwardAPI.items ?? []) {
        files.push(this.downwardFile(item.path, item.fieldRef?.fieldPath, item.mode));
      }
    } else if (volume.projected) {
      defaultMode = volume.projected.defaultMode;
      for (const source of volume.projected.sources ?? []) {
        if (source.configMap) {
          const { name = '', items, optional = false } = source.configMap;
          const data = await read.configMap(namespace, name);
          if (data === undefined && !optional)
            throw new PodConfigError(`configmap "${name}" not found`);
          files.push(...keyFiles(data ?? {}, items, `configmap ${name}`, optional));
        } else if (source.secret) {
          const { name = '', items, optional = false } = source.secret;
          const data = await read.secret(namespace, name);
          if (data === undefined && !optional)
            throw new PodConfigError(`secret "${name}" not found`);
          files.push(...keyFiles(data ?? {}, items, `secret ${name}`, optional));
        } else if (source.downwardAPI) {
          for (const item of source.downwardAPI.items ?? []) {
            files.push(this.downwardFile(item.path, item.fieldRef?.fieldPath, item.mode));
          }
        } else if (source.serviceAccountToken) {
          files.push({
            path: source.serviceAccountToken.path,
            content: await this.serviceAccountToken(
              source.serviceAccountToken.audience,
              source.serviceAccountToken.expirationSeconds,
            ),
          });
        } else {
          throw new PodSpecError(
            'Unsupported',
            `volume ${volume.name}: a projected source is not supported`,
          );
        }
      }
    } else {
      throw new PodSpecError(
        'Unsupported',
        `volume ${volume.name}: only emptyDir, configMap, secret, downwardAPI, projected and hostPath are supported`,
      );
    }

    for (const f of files) {
      const path = join(dir, f.path);
      if (!path.startsWith(`${dir}/`))
        throw new PodSpecError(
          'InvalidPod',
          `volume ${volume.name}: path ${f.path} leaves the volume`,
        );
      await mkdir(join(path, '..'), { recursive: true });
      // Owner-readable whatever the mode says: the owner here is the process as well.
      await writeFile(path, f.content, { mode: (f.mode ?? defaultMode ?? 0o644) | 0o600 });
    }
    return dir;
  }

  private downwardFile(path: string, fieldPath: string | undefined, mode?: number) {
    if (fieldPath === undefined) {
      throw new PodSpecError(
        'Unsupported',
        `downward API file ${path}: only fieldRef is supported`,
      );
    }
    return { path, content: fieldValue(this.pod, fieldPath), ...(mode !== undefined && { mode }) };
  }

  private async serviceAccountToken(
    audience?: string,
    expirationSeconds?: number,
  ): Promise<string> {
    const sa = this.pod.spec?.serviceAccountName ?? 'default';
    const reply = await this.kubelet.clients.core.createNamespacedServiceAccountToken({
      name: sa,
      namespace: this.pod.metadata?.namespace ?? 'default',
      body: {
        spec: {
          audiences: audience ? [audience] : [],
          expirationSeconds: expirationSeconds ?? 3600,
          boundObjectRef: {
            apiVersion: 'v1',
            kind: 'Pod',
            name: this.pod.metadata?.name ?? '',
            uid: this.pod.metadata?.uid ?? '',
          },
        },
      },
    });
    return reply.status?.token ?? '';
  }

  /** Starts one container and waits for it; the pod's status follows each step. */
  private async runContainer(
    prepared: PreparedContainer,
    records: Map<string, ContainerRecord>,
  ): Promise<number> {
    const { container, argv, env, cwd } = prepared;
    const record = records.get(container.name);
    if (record === undefined) return START_FAILED_EXIT_CODE;
    const [program = '', ...args] = argv;
    const stdoutFile = podLogFile(
      this.kubelet.workDir,
      this.ns(),
      this.name(),
      container.name,
      'stdout',
    );
    const stderrFile = podLogFile(
      this.kubelet.workDir,
      this.ns(),
      this.name(),
      container.name,
      'stderr',
    );

    const startedAt = now();
    const started = startProcess(program, args, { cwd, env, stdoutFile, stderrFile });
    const spawnError = await started.spawned;
    if (spawnError !== undefined) {
      record.state = {
        terminated: {
          exitCode: START_FAILED_EXIT_CODE,
          reason: 'StartError',
          message: `starting ${program}: ${spawnError}`,
          finishedAt: now(),
        },
      };
      await this.report(this.phaseNow());
      return START_FAILED_EXIT_CODE;
    }

    const proc = started.process;
    this.processes.add(proc);
    const containerID = `local://${proc.child.pid ?? 0}`;
    record.containerID = containerID;
    record.state = { running: { startedAt } };
    this.kubelet.log('container started', {
      pod: this.key,
      container: container.name,
      argv,
      pid: proc.child.pid,
    });
    // Asked to stop while it was starting: the signal was meant for it too.
    if (this.termination) this.stopProcess(proc, this.graceSeconds());
    await this.report(this.phaseNow());

    const { exitCode, stderrTail } = await proc.exited;
    this.processes.delete(proc);
    // A program that logs to stdout only still explains its failure, as with a real kubelet.
    const message =
      stderrTail === '' &&
      exitCode !== 0 &&
      container.terminationMessagePolicy === 'FallbackToLogsOnError'
        ? await fileTail(stdoutFile)
        : stderrTail;
    record.state = {
      terminated: {
        exitCode,
        reason: exitCode === 0 ? 'Completed' : 'Error',
        ...(message !== '' && { message }),
        startedAt,
        finishedAt: now(),
        containerID,
      },
    };
    this.kubelet.log('container exited', { pod: this.key, container: container.name, exitCode });
    if (!this.allTerminated()) await this.report(this.phaseNow());
    return exitCode;
  }

  private allTerminated(): boolean {
    return [...this.records.values()].every((r) => 'terminated' in r.state);
  }

  private phaseNow(): string {
    return [...this.records.values()].some((r) => 'running' in r.state) ? 'Running' : 'Pending';
  }

  private deadlineExceeded(): boolean {
    return this.termination?.deadline === true;
  }

  private armDeadline(): void {
    const seconds = this.pod.spec?.activeDeadlineSeconds;
    if (seconds === undefined) return;
    this.deadlineTimer = setTimeout(() => {
      if (!this.finished)
        this.terminate('the pod was active longer than its deadline', false, true);
    }, seconds * 1000);
  }

  /** Marks every container that has not terminated as terminated without running. */
  private failAll(reason: string, message: string, exitCode = START_FAILED_EXIT_CODE): void {
    for (const r of [...this.initRecords.values(), ...this.records.values()]) {
      if ('terminated' in r.state) continue;
      r.state = { terminated: { exitCode, reason, message, finishedAt: now() } };
    }
  }

  /** Writes the terminal status, then deletes the pod object if a deletion asked for this. */
  private async finish(
    phase: 'Succeeded' | 'Failed',
    reason?: string,
    message?: string,
  ): Promise<void> {
    clearTimeout(this.deadlineTimer);
    if (this.termination?.deadline) {
      reason = 'DeadlineExceeded';
      message = 'Pod was active on the node longer than the specified deadline';
    }
    this.finished = true;
    if (!this.deleteSent) await this.report(phase, reason, message);
    this.kubelet.log('pod finished', { pod: this.key, phase, reason });
    if (this.termination?.deletion || this.pod.metadata?.deletionTimestamp) await this.deletePod();
  }

  private async deletePod(): Promise<void> {
    if (this.deleteSent) return;
    this.deleteSent = true;
    const uid = this.pod.metadata?.uid ?? '';
    await this.kubelet.retryWrite('deleting the pod', this.key, () =>
      this.kubelet.clients.core.deleteNamespacedPod({
        name: this.name(),
        namespace: this.ns(),
        gracePeriodSeconds: 0,
        body: { gracePeriodSeconds: 0, preconditions: { uid } },
      }),
    );
  }

  private setCondition(type: string, status: string): void {
    const current = this.conditions.get(type);
    if (current?.status === status) return;
    this.conditions.set(type, { status, lastTransitionTime: now() });
  }

  /** Writes the whole status the kubelet owns, through the pods/status subresource. */
  private async report(phase: string, reason?: string, message?: string): Promise<void> {
    if (this.deleteSent) return;
    const running =
      phase === 'Running' && [...this.records.values()].every((r) => 'running' in r.state);
    const readyReason =
      phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady';
    this.setCondition('ContainersReady', running ? 'True' : 'False');
    this.setCondition('Ready', running ? 'True' : 'False');

    const conditions = [...this.conditions].map(([type, c]) => ({
      type,
      status: c.status,
      lastTransitionTime: c.lastTransitionTime,
      lastProbeTime: null,
      ...(c.status === 'False' &&
        (type === 'Ready' || type === 'ContainersReady') && { reason: readyReason }),
    }));
    const statusOf = (r: ContainerRecord) => ({
      name: r.name,
      image: r.image,
      imageID: '',
      ...(r.containerID !== undefined && { containerID: r.containerID }),
      ready: 'running' in r.state,
      started: 'running' in r.state,
      restartCount: 0,
      state: {
        waiting: 'waiting' in r.state ? r.state.waiting : null,
        running: 'running' in r.state ? r.state.running : null,
        terminated: 'terminated' in r.state ? r.state.terminated : null,
      },
    });
    const status = {
      phase,
      reason: reason ?? null,
      message: message ?? null,
      hostIP: HOST_IP,
      hostIPs: [{ ip: HOST_IP }],
      podIP: HOST_IP,
      podIPs: [{ ip: HOST_IP }],
      startTime: this.startTime ?? now(),
      conditions,
      containerStatuses: [...this.records.values()].map(statusOf),
      ...(this.initRecords.size > 0 && {
        initContainerStatuses: [...this.initRecords.values()].map(statusOf),
      }),
    };
    await this.kubelet.retryWrite('writing pod status', this.key, () =>
      this.kubelet.clients.core.patchNamespacedPodStatus(
        { name: this.name(), namespace: this.ns(), body: { status } },
        strategicMerge,
      ),
    );
  }

  private name(): string {
    return this.pod.metadata?.name ?? '';
  }

  private ns(): string {
    return this.pod.metadata?.namespace ?? 'default';
  }
}

// ---------------------------------------------------------------------------
// processes

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Exit code as a container runtime reports it: 128 + the signal number for a killed process. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const number = signal ? osConstants.signals[signal] : undefined;
  return 128 + (number ?? 9);
}

/** The last MESSAGE_BYTES of a stream, cut at a line start where possible. */
class Tail {
  private buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > MESSAGE_BYTES * 2)
      this.buffer = this.buffer.subarray(-MESSAGE_BYTES * 2);
  }

  text(): string {
    let tail = this.buffer.subarray(-MESSAGE_BYTES).toString('utf8');
    if (this.buffer.length > MESSAGE_BYTES) {
      const newline = tail.indexOf('\n');
      if (newline !== -1 && newline < tail.length - 1) tail = tail.slice(newline + 1);
      // A multi-byte character cut in two decodes as U+FFFD.
      tail = tail.replace(/^\uFFFD+/, '');
    }
    return tail.replace(/\n$/, '');
  }
}

/** The last MESSAGE_BYTES of a file, as Tail cuts them; empty when it cannot be read. */
async function fileTail(path: string): Promise<string> {
  const tail = new Tail();
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, MESSAGE_BYTES * 2);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      tail.push(buffer);
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
  return tail.text();
}

function startProcess(
  program: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; stdoutFile: string; stderrFile: string },
): { spawned: Promise<string | undefined>; process: ContainerProcess } {
  const stdoutFd = openSync(opts.stdoutFile, 'a');
  const stderr = createWriteStream(opts.stderrFile, { flags: 'a' });
  const tail = new Tail();
  const child = spawn(program, args, {
    cwd: opts.cwd,
    env: opts.env,
    // A process group of its own, so the whole container can be signalled.
    detached: true,
    stdio: ['ignore', stdoutFd, 'pipe'],
  });
  closeSync(stdoutFd);

  const proc: ContainerProcess = {
    child,
    alive: true,
    exited: Promise.resolve({ exitCode: 0, stderrTail: '' }),
  };
  const spawned = new Promise<string | undefined>((res) => {
    child.once('spawn', () => res(undefined));
    child.once('error', (err) => {
      proc.alive = false;
      stderr.end();
      res(err.message);
    });
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    stderr.write(chunk);
  });
  proc.exited = new Promise((res) => {
    child.once('exit', (code, signal) => {
      proc.alive = false;
      // What the main process left running dies with the container.
      signalGroup(child, 'SIGKILL');
      const exitCode = exitCodeOf(code, signal);
      const finish = () => stderr.end(() => res({ exitCode, stderrTail: tail.text() }));
      if (child.stderr === null || child.stderr.readableEnded) finish();
      else child.stderr.once('close', finish);
    });
  });
  return { spawned, process: proc };
}
