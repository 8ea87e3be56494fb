/**
 * The local kubelet: its pure parts (argv, environment, path mapping) by
 * table, then the whole thing on a real control plane, where the Job
 * controller must see what it would see from a real node: Jobs complete and
 * fail from exit codes, the environment and volumes reach the process, and a
 * deleted pod's process is stopped within its grace period.
 *
 * The cluster part is skipped when the control-plane binaries are missing,
 * unless MLP_CLUSTER_REQUIRED=1 makes their absence a failure.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Container,
  type V1Job,
  type V1Pod,
  type V1PodSpec,
} from '@kubernetes/client-node';

import { eventually, localClusterSkip } from './api-client.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';
import {
  apiServiceEnv,
  containerEnvironment,
  expandVariables,
  inClusterKubeconfig,
  fieldValue,
  PodConfigError,
  podLogFile,
  resolveArgv,
  rewritePath,
  startLocalKubelet,
  type LocalKubelet,
  type ObjectReader,
} from './kubelet.js';

describe('local kubelet: argv', () => {
  const commands = { mlpipeline: ['/usr/bin/node', 'cli.js'], sh: ['/bin/sh'] };
  const cases: {
    name: string;
    container: Pick<V1Container, 'command' | 'args' | 'image'>;
    want: string[] | undefined;
  }[] = [
    {
      name: 'command[0] is replaced by its local program',
      container: { command: ['mlpipeline', 'stage', 'train'], image: 'x' },
      want: ['/usr/bin/node', 'cli.js', 'stage', 'train'],
    },
    {
      name: 'args follow the command',
      container: { command: ['sh', '-c'], args: ['exit 3'] },
      want: ['/bin/sh', '-c', 'exit 3'],
    },
    {
      name: 'an absolute command is found by its last segment',
      container: { command: ['/usr/local/bin/mlpipeline', 'stage', 'collect'] },
      want: ['/usr/bin/node', 'cli.js', 'stage', 'collect'],
    },
    {
      name: 'without a command, the image name without registry and tag',
      container: { image: 'ghcr.io/org/mlpipeline:1.2.3', args: ['controller'] },
      want: ['/usr/bin/node', 'cli.js', 'controller'],
    },
    {
      name: 'an image pinned by digest',
      container: { image: 'mlpipeline@sha256:abc' },
      want: ['/usr/bin/node', 'cli.js'],
    },
    {
      name: 'an unknown command',
      container: { command: ['python', 'x.py'], image: 'mlpipeline' },
      want: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(resolveArgv(c.container, commands), c.want));
  }
});

describe('local kubelet: $(VAR) expansion', () => {
  const vars = { A: 'one', B: 'two' };
  const cases: [string, string][] = [
    ['$(A)-$(B)', 'one-two'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['cost: $5', 'cost: $5'],
    ['unclosed $(A', 'unclosed $(A'],
    ['trailing $', 'trailing $'],
  ];
  for (const [input, want] of cases) {
    it(JSON.stringify(input), () => assert.equal(expandVariables(input, vars), want));
  }
});

describe('local kubelet: mount path rewriting', () => {
  const mappings = [
    { mountPath: '/tmp', localPath: '/work/p/volumes/tmp' },
    { mountPath: '/etc/mlpipeline', localPath: '/work/p/volumes/pipeline' },
    { mountPath: '/etc/mlpipeline/extra/', localPath: '/work/p/volumes/extra' },
  ];
  const cases: [string, string][] = [
    ['/etc/mlpipeline/pipeline.yaml', '/work/p/volumes/pipeline/pipeline.yaml'],
    ['/etc/mlpipeline', '/work/p/volumes/pipeline'],
    ['/tmp/mlpipeline', '/work/p/volumes/tmp/mlpipeline'],
    ['/etc/mlpipeline/extra/a', '/work/p/volumes/extra/a'],
    ['/tmpfoo', '/tmpfoo'],
    ['cat /etc/mlpipeline/pipeline.yaml', 'cat /etc/mlpipeline/pipeline.yaml'],
    ['relative/tmp', 'relative/tmp'],
  ];
  for (const [input, want] of cases) {
    it(input, () => assert.equal(rewritePath(input, mappings), want));
  }
});

describe('local kubelet: in-cluster clients', () => {
  it('names the API server in KUBERNETES_SERVICE_HOST and _PORT', () => {
    assert.deepEqual(apiServiceEnv('https://127.0.0.1:40123'), {
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: '40123',
    });
    assert.equal(apiServiceEnv('https://k8s.example').KUBERNETES_SERVICE_PORT, '443');
  });

  it('writes a kubeconfig a client loads as the ServiceAccount of the mounted folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubelet-sa-'));
    try {
      await writeFile(join(dir, 'token'), 'the-token');
      await writeFile(join(dir, 'ca.crt'), 'not a real CA');
      const file = join(dir, 'kubeconfig');
      await writeFile(file, inClusterKubeconfig('https://127.0.0.1:40123', dir, 'ns1'));

      const kc = new KubeConfig();
      kc.loadFromFile(file);
      assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:40123');
      assert.equal(kc.getCurrentCluster()?.caFile, join(dir, 'ca.crt'));
      assert.equal(kc.getContextObject(kc.getCurrentContext())?.namespace, 'ns1');
      const headers: Record<string, string> = {};
      await kc.applyToHTTPSOptions({ headers });
      assert.equal(headers.Authorization, 'Bearer the-token');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('local kubelet: environment', () => {
  const pod: V1Pod = {
    metadata: {
      name: 'p',
      namespace: 'ns',
      uid: 'u-1',
      labels: { app: 'x' },
      annotations: { 'mlpipeline.dev/run-id': 'run-7' },
    },
    spec: { containers: [], nodeName: 'n1', serviceAccountName: 'sa' },
  };
  const read: ObjectReader = {
    secret: (_ns, name) =>
      Promise.resolve(name === 'db' ? { user: 'alice', password: 'pw' } : undefined),
    configMap: (_ns, name) => Promise.resolve(name === 'cfg' ? { level: 'debug' } : undefined),
  };

  it('reads envFrom with prefixes, references, the downward API and literals, in that order', async () => {
    const env = await containerEnvironment(
      pod,
      {
        envFrom: [
          { prefix: 'DB_', secretRef: { name: 'db' } },
          { configMapRef: { name: 'nope', optional: true } },
        ],
        env: [
          { name: 'DB_user', value: 'overridden' },
          { name: 'PASS', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
          { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'level' } } },
          {
            name: 'GONE',
            valueFrom: { secretKeyRef: { name: 'db', key: 'missing', optional: true } },
          },
          {
            name: 'RUN',
            valueFrom: { fieldRef: { fieldPath: "metadata.annotations['mlpipeline.dev/run-id']" } },
          },
          { name: 'ME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'GREETING', value: '$(ME) in $(RUN)' },
        ],
      },
      read,
      { PATH: '/bin' },
    );
    assert.deepEqual(env, {
      PATH: '/bin',
      HOSTNAME: 'p',
      DB_user: 'overridden',
      DB_password: 'pw',
      PASS: 'pw',
      LEVEL: 'debug',
      RUN: 'run-7',
      ME: 'p',
      GREETING: 'p in run-7',
    });
  });

  const missing: [string, Pick<V1Container, 'env' | 'envFrom'>, RegExp][] = [
    [
      'a missing Secret in envFrom',
      { envFrom: [{ secretRef: { name: 'nope' } }] },
      /secret "nope" not found/,
    ],
    [
      'a missing key',
      { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'token' } } }] },
      /couldn't find key token in secret ns\/db/,
    ],
    [
      'a missing ConfigMap',
      { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] },
      /configmap "nope" not found/,
    ],
  ];
  for (const [name, container, message] of missing) {
    it(`waits on ${name} (PodConfigError)`, async () => {
      await assert.rejects(containerEnvironment(pod, container, read), (err: unknown) => {
        assert.ok(err instanceof PodConfigError);
        assert.match(err.message, message);
        return true;
      });
    });
  }

  it('resolves the downward API fields', () => {
    assert.equal(fieldValue(pod, 'metadata.namespace'), 'ns');
    assert.equal(fieldValue(pod, 'metadata.uid'), 'u-1');
    assert.equal(fieldValue(pod, "metadata.labels['app']"), 'x');
    assert.equal(fieldValue(pod, "metadata.labels['none']"), '');
    assert.equal(fieldValue(pod, 'spec.nodeName'), 'n1');
    assert.equal(fieldValue(pod, 'spec.serviceAccountName'), 'sa');
    assert.equal(fieldValue(pod, 'metadata.labels'), 'app="x"');
    assert.throws(() => fieldValue(pod, 'spec.schedulerName'), /not supported/);
  });
});

// ---------------------------------------------------------------------------
// on a real control plane

const NS = 'kubelet-test';
const IMAGE = 'registry.invalid/shell:0';
const MAX_GRACE_SECONDS = 5;

/** A pod spec running one `sh -c script` container; no token, so no kube-root-ca.crt is needed. */
function shellPod(
  script: string,
  extra: Partial<V1PodSpec> = {},
  container: Partial<V1Container> = {},
): V1PodSpec {
  return {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    containers: [{ name: 'main', image: IMAGE, command: ['sh', '-c', script], ...container }],
    ...extra,
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function pidOf(pod: V1Pod): number {
  const id = pod.status?.containerStatuses?.[0]?.containerID ?? '';
  const m = /^local:\/\/(\d+)$/.exec(id);
  assert.ok(m?.[1], `containerID ${id}`);
  return Number(m[1]);
}

describe('local kubelet on a control plane', { skip: localClusterSkip, timeout: 600_000 }, () => {
  let dir: string;
  let workDir: string;
  let cp: ControlPlane | undefined;
  let kubelet: LocalKubelet | undefined;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let coordination: CoordinationV1Api;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-kubelet-'));
    workDir = join(dir, 'kubelet');
    cp = await startControlPlane({ dir: join(dir, 'control-plane') });
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    coordination = kc.makeApiClient(CoordinationV1Api);

    kubelet = await startLocalKubelet({
      kubeconfig: cp.kubeconfig,
      workDir,
      imageCommands: { sh: ['/bin/sh'] },
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      maxGracePeriodSeconds: MAX_GRACE_SECONDS,
    });

    await core.createNamespace({ body: { metadata: { name: NS } } });
    // Pods are refused until the namespace's default ServiceAccount exists.
    await eventually('the default service account', 30_000, () =>
      core.readNamespacedServiceAccount({ name: 'default', namespace: NS }).then(
        () => true,
        () => undefined,
      ),
    );
  });

  after(async () => {
    await kubelet?.stop();
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function createPod(name: string, spec: V1PodSpec, annotations?: Record<string, string>) {
    return core.createNamespacedPod({
      namespace: NS,
      body: { metadata: { name, ...(annotations && { annotations }) }, spec },
    });
  }

  async function podInPhase(name: string, phases: string[], timeoutMs = 60_000): Promise<V1Pod> {
    return eventually(`pod ${name} in ${phases.join(' or ')}`, timeoutMs, async () => {
      const pod = await core.readNamespacedPod({ name, namespace: NS });
      return phases.includes(pod.status?.phase ?? '') ? pod : undefined;
    });
  }

  async function podGone(name: string, timeoutMs: number): Promise<void> {
    await eventually(`pod ${name} to be deleted`, timeoutMs, () =>
      core.readNamespacedPod({ name, namespace: NS }).then(
        () => undefined,
        (err: unknown) => ((err as { code?: number }).code === 404 ? true : undefined),
      ),
    );
  }

  async function jobCondition(name: string, type: string): Promise<{ reason?: string }> {
    return eventually(`Job ${name} condition ${type}`, 90_000, async () => {
      const job = await batch.readNamespacedJob({ name, namespace: NS });
      return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
    });
  }

  async function jobPods(job: string): Promise<V1Pod[]> {
    const list = await core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${job}` });
    return list.items;
  }

  function job(name: string, script: string): V1Job {
    return {
      metadata: { name },
      spec: { backoffLimit: 0, template: { spec: shellPod(script) } },
    };
  }

  it('registers a Ready node without the not-ready taint and keeps its lease', async () => {
    const node = await core.readNode({ name: kubelet?.nodeName ?? '' });
    const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True');
    assert.ok(Number(node.status?.allocatable?.pods) > 0);
    assert.ok(!(node.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready'));

    const lease = await coordination.readNamespacedLease({
      name: node.metadata?.name ?? '',
      namespace: 'kube-node-lease',
    });
    assert.equal(lease.spec?.holderIdentity, node.metadata?.name);
    assert.ok(lease.spec?.renewTime);
  });

  it('runs a Job whose command exits 0 to Complete', async () => {
    await batch.createNamespacedJob({ namespace: NS, body: job('ok', 'echo hello from the pod') });
    await jobCondition('ok', 'Complete');

    const [pod] = await jobPods('ok');
    assert.ok(pod);
    assert.equal(pod.spec?.nodeName, kubelet?.nodeName);
    assert.equal(pod.status?.phase, 'Succeeded');
    assert.ok(pod.status?.startTime);
    const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 0);
    assert.equal(terminated?.reason, 'Completed');
    assert.ok(terminated?.startedAt && terminated.finishedAt);

    const log = await readFile(podLogFile(workDir, NS, pod.metadata?.name ?? '', 'main'), 'utf8');
    assert.equal(log, 'hello from the pod\n');
  });

  it('fails a Job with backoffLimit 0 whose command exits 3, with the exit code and stderr', async () => {
    await batch.createNamespacedJob({
      namespace: NS,
      body: job('fails', 'echo first line >&2; echo "model file missing" >&2; exit 3'),
    });
    const failed = await jobCondition('fails', 'Failed');
    assert.equal(failed.reason, 'BackoffLimitExceeded');

    const pods = await jobPods('fails');
    assert.equal(pods.length, 1);
    const pod = pods[0];
    assert.equal(pod?.status?.phase, 'Failed');
    const terminated = pod?.status?.containerStatuses?.[0]?.state?.terminated;
    assert.equal(terminated?.exitCode, 3);
    assert.equal(terminated?.reason, 'Error');
    assert.equal(terminated?.message, 'first line\nmodel file missing');
  });

  it('gives the process its env from Secrets, the downward API and mounted volumes', async () => {
    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'db' }, stringData: { user: 'alice', password: 's3cret' } },
    });
    await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: 'pipeline' }, data: { 'pipeline.yaml': 'kind: MLPipeline\n' } },
    });
    const script = [
      'echo "user=$DB_user password=$DB_password pass=$PASS run=$MLP_RUN_ID"',
      'echo "optional=${MAYBE-unset}"',
      'echo "file=$MLP_PIPELINE_FILE"',
      'cat "$MLP_PIPELINE_FILE"',
      'mkdir -p "$MLPIPELINE_DATA_DIR" && echo stored > "$MLPIPELINE_DATA_DIR/state"',
    ].join('; ');
    await createPod(
      'env',
      shellPod(
        script,
        {
          volumes: [
            { name: 'tmp', emptyDir: {} },
            { name: 'pipeline', configMap: { name: 'pipeline' } },
          ],
        },
        {
          envFrom: [{ prefix: 'DB_', secretRef: { name: 'db' } }],
          env: [
            { name: 'PASS', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
            {
              name: 'MAYBE',
              valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } },
            },
            {
              name: 'MLP_RUN_ID',
              valueFrom: {
                fieldRef: { fieldPath: "metadata.annotations['mlpipeline.dev/run-id']" },
              },
            },
            { name: 'MLP_PIPELINE_FILE', value: '/etc/mlpipeline/pipeline.yaml' },
            { name: 'MLPIPELINE_DATA_DIR', value: '/tmp/mlpipeline' },
          ],
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'pipeline', mountPath: '/etc/mlpipeline', readOnly: true },
          ],
        },
      ),
      { 'mlpipeline.dev/run-id': 'iris-20240101t0000z' },
    );
    const pod = await podInPhase('env', ['Succeeded', 'Failed']);
    const log = await readFile(podLogFile(workDir, NS, 'env', 'main'), 'utf8');
    assert.equal(pod.status?.phase, 'Succeeded', log);

    const lines = log.split('\n');
    assert.equal(lines[0], 'user=alice password=s3cret pass=s3cret run=iris-20240101t0000z');
    assert.equal(lines[1], 'optional=unset');
    const file = lines[2]?.replace(/^file=/, '') ?? '';
    assert.ok(file.startsWith(workDir), `MLP_PIPELINE_FILE was ${file}`);
    assert.equal(lines[3], 'kind: MLPipeline');
    const podFolder = join(workDir, 'pods', NS, 'env');
    assert.equal(file, join(podFolder, 'volumes', 'pipeline', 'pipeline.yaml'));
    assert.equal(
      await readFile(join(podFolder, 'volumes', 'tmp', 'mlpipeline', 'state'), 'utf8'),
      'stored\n',
    );
  });

  it('keeps a pod waiting with CreateContainerConfigError until its Secret exists', async () => {
    await createPod(
      'late-secret',
      shellPod(
        'echo "token=$TOKEN"',
        {},
        {
          env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'late', key: 'token' } } }],
        },
      ),
    );
    await eventually('the waiting reason', 30_000, async () => {
      const pod = await core.readNamespacedPod({ name: 'late-secret', namespace: NS });
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
      return waiting?.reason === 'CreateContainerConfigError' &&
        /secret "late" not found/.test(waiting.message ?? '')
        ? true
        : undefined;
    });
    assert.equal(
      (await core.readNamespacedPod({ name: 'late-secret', namespace: NS })).status?.phase,
      'Pending',
    );

    await core.createNamespacedSecret({
      namespace: NS,
      body: { metadata: { name: 'late' }, stringData: { token: 't-1' } },
    });
    const pod = await podInPhase('late-secret', ['Succeeded', 'Failed']);
    assert.equal(pod.status?.phase, 'Succeeded');
    assert.equal(
      await readFile(podLogFile(workDir, NS, 'late-secret', 'main'), 'utf8'),
      'token=t-1\n',
    );
  });

  it('runs init containers first, sharing an emptyDir with the main container', async () => {
    await createPod('with-init', {
      ...shellPod(
        '',
        { volumes: [{ name: 'data', emptyDir: {} }] },
        {
          command: ['sh', '-c', 'cat "$0"', '/data/greeting'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ),
      initContainers: [
        {
          name: 'init',
          image: IMAGE,
          command: ['sh', '-c', 'echo "written by init" > "$1"', 'sh', '/data/greeting'],
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
    });
    const pod = await podInPhase('with-init', ['Succeeded', 'Failed']);
    assert.equal(pod.status?.phase, 'Succeeded');
    assert.equal(pod.status?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    // Both paths are whole arguments below the mount, so both were rewritten to the same folder.
    assert.equal(
      await readFile(podLogFile(workDir, NS, 'with-init', 'main'), 'utf8'),
      'written by init\n',
    );
  });

  it('fails a pod whose command has no local program with UnknownCommand', async () => {
    await createPod('unknown', {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      containers: [{ name: 'main', image: IMAGE, command: ['python', 'train.py'] }],
    });
    const pod = await podInPhase('unknown', ['Succeeded', 'Failed']);
    assert.equal(pod.status?.phase, 'Failed');
    assert.equal(pod.status?.reason, 'UnknownCommand');
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason, 'UnknownCommand');
  });

  it('stops a deleted pod: SIGTERM ends sleep 300 at once and the pod disappears', async () => {
    await createPod('sleeper', shellPod('sleep 300'));
    const running = await podInPhase('sleeper', ['Running']);
    assert.equal(running.status?.containerStatuses?.[0]?.state?.running !== undefined, true);
    const pid = pidOf(running);
    assert.ok(processAlive(pid));

    const started = Date.now();
    await core.deleteNamespacedPod({ name: 'sleeper', namespace: NS });
    await podGone('sleeper', MAX_GRACE_SECONDS * 1000);
    assert.ok(Date.now() - started < MAX_GRACE_SECONDS * 1000);
    assert.equal(processAlive(pid), false);
    assert.equal(kubelet?.processes(), 0);
  });

  it('kills a pod that ignores SIGTERM once its grace period is over', async () => {
    await createPod(
      'stubborn',
      shellPod("trap '' TERM; echo ready; while :; do sleep 1; done", {
        terminationGracePeriodSeconds: 2,
      }),
    );
    const running = await podInPhase('stubborn', ['Running']);
    const pid = pidOf(running);
    // The trap must be set before the signal comes, or sh dies of it.
    await eventually('the trap to be set', 10_000, async () =>
      (
        await readFile(podLogFile(workDir, NS, 'stubborn', 'main'), 'utf8').catch(() => '')
      ).includes('ready')
        ? true
        : undefined,
    );

    const started = Date.now();
    await core.deleteNamespacedPod({ name: 'stubborn', namespace: NS });
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(processAlive(pid), 'killed before its grace period was over');
    await podGone('stubborn', 10_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 2000, `gone after ${elapsed} ms`);
    assert.equal(processAlive(pid), false);
  });

  it('fails a pod that runs past activeDeadlineSeconds with DeadlineExceeded', async () => {
    await createPod('deadline', shellPod('sleep 300', { activeDeadlineSeconds: 2 }));
    const pod = await podInPhase('deadline', ['Succeeded', 'Failed'], 30_000);
    assert.equal(pod.status?.phase, 'Failed');
    assert.equal(pod.status?.reason, 'DeadlineExceeded');
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 143);
  });

  it('on stop, terminates running pods, deletes them and the Node', async () => {
    await createPod('at-stop', shellPod('sleep 300'));
    const pid = pidOf(await podInPhase('at-stop', ['Running']));
    const name = kubelet?.nodeName ?? '';

    await kubelet?.stop();
    assert.equal(kubelet?.processes(), 0);
    assert.equal(processAlive(pid), false);
    await podGone('at-stop', 10_000);
    await assert.rejects(
      core.readNode({ name }),
      (err: unknown) => (err as { code?: number }).code === 404,
    );
    assert.ok(existsSync(podLogFile(workDir, NS, 'at-stop', 'main')));
  });
});
