/**
 * The Helm chart without a cluster: it lints and renders, ships the project's
 * CRD unchanged, grants exactly the RBAC rules that deploy/rbac holds (which
 * the controller and UI tests run under), and renders pods that are
 * restricted, probed and configured the way cli/controller.ts and cli/ui.ts
 * read their settings. values.schema.json refuses bad values naming the field.
 *
 * Needs helm (test/cluster/build-helm.sh); skipped without it unless
 * MLP_CLUSTER_REQUIRED=1 makes its absence a failure.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CHART, ROOT, helm, helmOk, helmSkip, manifests, type Manifest } from './helm.js';

/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   Rendered manifests are read loosely, as JSON: each check names the fields it reads. */

const RBAC_KINDS = ['ServiceAccount', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'];
/** The release and namespace under which the chart's names are those of deploy/rbac. */
const RBAC_RELEASE = 'mlpipeline';
const RBAC_NAMESPACE = 'mlpipeline-system';

/** What identifies an object: kind, namespace and name. */
const keyOf = (o: Manifest) => `${o.kind} ${o.metadata.namespace ?? '-'}/${o.metadata.name}`;

/** An object without what the chart adds for bookkeeping: labels and annotations. */
function withoutBookkeeping(o: Manifest): Manifest {
  const metadata = { ...o.metadata };
  delete metadata.labels;
  delete metadata.annotations;
  return { ...o, metadata };
}

describe('the Helm chart', { skip: helmSkip, timeout: 180_000 }, () => {
  let home: string;
  const template = async (...args: string[]) =>
    manifests(
      await helmOk(['template', RBAC_RELEASE, CHART, '-n', RBAC_NAMESPACE, ...args], { home }),
    );
  const find = (objects: Manifest[], kind: string, name: string): Manifest => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    assert.ok(found, `${kind} ${name} is rendered`);
    return found;
  };

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlp-chart-'));
  });

  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('passes helm lint --strict with the default values and with every option set', async () => {
    await helmOk(['lint', '--strict', CHART], { home });
    await helmOk(
      [
        'lint',
        '--strict',
        CHART,
        '-f',
        join(ROOT, 'deploy/kind/values.yaml'),
        '--set',
        'controller.replicas=3,serviceMonitor.enabled=true,stages.namespaces={team-a,team-b}',
        '--set',
        's3.endpoint=http://seaweedfs:8333,imagePullSecrets[0].name=registry',
      ],
      { home },
    );
  });

  it('ships the CRD of crds/ byte for byte, and helm packages it', async () => {
    const project = await readFile(join(ROOT, 'crds/mlpipeline.dev_mlpipelines.yaml'));
    const chart = await readFile(join(CHART, 'crds/mlpipeline.dev_mlpipelines.yaml'));
    assert.ok(
      project.equals(chart),
      'charts/mlpipeline-operator/crds/ differs from crds/: copy crds/mlpipeline.dev_mlpipelines.yaml over it',
    );
    assert.deepEqual(await readdir(join(CHART, 'crds')), ['mlpipeline.dev_mlpipelines.yaml']);

    await helmOk(['package', CHART, '-d', home], { home });
    const shown = await helmOk(['show', 'crds', join(home, 'mlpipeline-operator-0.1.0.tgz')], {
      home,
    });
    // helm starts each CRD with a document separator of its own.
    assert.equal(shown.replace(/^---\n/, '').trim(), project.toString('utf8').trim());
  });

  it('grants exactly the ServiceAccounts, roles and bindings of deploy/rbac', async () => {
    const rendered = (await template())
      .filter((o) => RBAC_KINDS.includes(o.kind))
      .map(withoutBookkeeping);
    const files = ['controller-role.yaml', 'stage-role.yaml', 'ui-role.yaml'];
    const expected: Manifest[] = [];
    for (const file of files) {
      expected.push(...manifests(await readFile(join(ROOT, 'deploy/rbac', file), 'utf8')));
    }

    const byKey = (list: Manifest[]) => new Map(list.map((o) => [keyOf(o), o]));
    const want = byKey(expected);
    const got = byKey(rendered);
    assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
    for (const [key, obj] of want) assert.deepEqual(got.get(key), obj, key);
  });

  it('renders every namespaced object in the release namespace, and the stage account in each stage namespace', async () => {
    const objects = await template('--set', 'stages.namespaces={team-a,team-b}');
    const clusterScoped = ['ClusterRole', 'ClusterRoleBinding'];
    for (const o of objects) {
      if (clusterScoped.includes(o.kind)) continue;
      if (o.kind === 'ServiceAccount' && o.metadata.name === 'mlpipeline-stage') continue;
      assert.equal(o.metadata.namespace, RBAC_NAMESPACE, keyOf(o));
    }
    const stageAccounts = objects.filter(
      (o) => o.kind === 'ServiceAccount' && o.metadata.name === 'mlpipeline-stage',
    );
    assert.deepEqual(stageAccounts.map((o) => o.metadata.namespace).sort(), [
      RBAC_NAMESPACE,
      'team-a',
      'team-b',
    ]);
    assert.ok(stageAccounts.every((o) => o.automountServiceAccountToken === false));
  });

  it('runs the controller with leader election, the configured replicas and the settings cli/controller.ts reads', async () => {
    const objects = await template(
      '-f',
      join(ROOT, 'deploy/kind/values.yaml'),
      '--set',
      'controller.replicas=3,s3.endpoint=http://seaweedfs:8333',
    );
    const deployment = find(objects, 'Deployment', 'mlpipeline-controller');
    assert.equal(deployment.spec.replicas, 3);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'mlpipeline-controller');
    const [container] = pod.containers;
    assert.equal(container.image, 'mlpipeline-operator:dev');
    assert.deepEqual(container.command, ['mlpipeline']);
    assert.equal(container.args[0], 'controller');
    assert.ok(container.args.includes('--leader-elect'));
    assert.ok(container.args.includes('--metrics-port=8081'));

    const env = new Map<string, Manifest>(container.env.map((e: Manifest) => [e.name, e]));
    const value = (name: string) => env.get(name)?.value;
    assert.equal(value('MLP_STAGE_IMAGE'), container.image);
    assert.equal(value('MLP_STAGE_IMAGE_PULL_POLICY'), 'Never');
    assert.equal(value('MLP_STAGE_SERVICE_ACCOUNT'), 'mlpipeline-stage');
    assert.equal(value('MLP_DATABASE_SECRET'), 'mlpipeline-db');
    assert.equal(value('MLP_S3_CREDENTIALS_SECRET'), 'mlpipeline-s3');
    assert.equal(value('S3_BUCKET'), 'models');
    assert.equal(value('S3_PREFIX'), 'pipelines/');
    assert.equal(value('S3_ENDPOINT'), 'http://seaweedfs:8333');
    assert.equal(env.get('POD_NAMESPACE')?.valueFrom.fieldRef.fieldPath, 'metadata.namespace');
    assert.equal(env.get('AWS_ACCESS_KEY_ID')?.valueFrom.secretKeyRef.name, 'mlpipeline-s3');
    // The controller never holds database credentials, only the Secret's name.
    assert.ok(![...env.keys()].some((name) => name.startsWith('MYSQL_')));

    const port = container.ports.find((p: Manifest) => p.name === 'metrics');
    assert.equal(port.containerPort, 8081);
    assert.equal(container.livenessProbe.httpGet.path, '/healthz');
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');
    const metrics = find(objects, 'Service', 'mlpipeline-controller-metrics');
    assert.deepEqual(metrics.spec.selector, deployment.spec.selector.matchLabels);
  });

  it('runs the UI with its token from a Secret, the databases by reference and a Service', async () => {
    const objects = await template(
      '-f',
      join(ROOT, 'deploy/kind/values.yaml'),
      '--set',
      's3.endpoint=http://seaweedfs:8333',
    );
    const deployment = find(objects, 'Deployment', 'mlpipeline-ui');
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'mlpipeline-ui');
    const [container] = pod.containers;
    assert.deepEqual([...container.command, ...container.args], ['mlpipeline', 'ui']);
    const env = new Map<string, Manifest>(container.env.map((e: Manifest) => [e.name, e]));
    assert.equal(env.get('HOST')?.value, '0.0.0.0');
    assert.equal(env.get('PORT')?.value, '8080');
    assert.deepEqual(env.get('MLPIPELINE_API_TOKEN')?.valueFrom.secretKeyRef, {
      name: 'mlpipeline-ui-token',
      key: 'token',
    });
    assert.deepEqual(env.get('MYSQL_URL')?.valueFrom.secretKeyRef, {
      name: 'mlpipeline-db',
      key: 'url',
      optional: true,
    });
    assert.deepEqual(env.get('RDS_PASSWORD')?.valueFrom.secretKeyRef, {
      name: 'rds',
      key: 'password',
      optional: true,
    });
    assert.equal(container.readinessProbe.httpGet.path, '/readyz');

    const service = find(objects, 'Service', 'mlpipeline-ui');
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    assert.deepEqual(service.spec.ports, [
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);

    const readOnly = await template('--set', 'ui.apiToken.secretName=');
    const readOnlyUi = find(readOnly, 'Deployment', 'mlpipeline-ui').spec.template.spec;
    assert.ok(
      !readOnlyUi.containers[0].env.some((e: Manifest) => e.name === 'MLPIPELINE_API_TOKEN'),
    );

    const noUi = await template('--set', 'ui.enabled=false');
    assert.ok(!noUi.some((o) => o.metadata.name === 'mlpipeline-ui'), 'nothing of the UI');
  });

  it('restricts both pods: non-root uid 1000, read-only root, no privilege escalation, no capabilities, /tmp in memory', async () => {
    const objects = await template();
    for (const name of ['mlpipeline-controller', 'mlpipeline-ui']) {
      const pod = find(objects, 'Deployment', name).spec.template.spec;
      assert.equal(pod.enableServiceLinks, false, name);
      assert.deepEqual(
        pod.securityContext,
        {
          runAsNonRoot: true,
          runAsUser: 1000,
          runAsGroup: 1000,
          fsGroup: 1000,
          seccompProfile: { type: 'RuntimeDefault' },
        },
        name,
      );
      const [container] = pod.containers;
      assert.deepEqual(
        container.securityContext,
        {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          capabilities: { drop: ['ALL'] },
        },
        name,
      );
      assert.ok(container.resources.requests.cpu && container.resources.requests.memory, name);
      assert.ok(container.resources.limits.memory, name);
      assert.deepEqual(container.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }], name);
      assert.deepEqual(pod.volumes, [{ name: 'tmp', emptyDir: {} }], name);
    }
  });

  it('adds a ServiceMonitor for the metrics port only when asked', async () => {
    assert.ok(!(await template()).some((o) => o.kind === 'ServiceMonitor'));
    const objects = await template(
      '--set',
      'serviceMonitor.enabled=true,serviceMonitor.labels.release=prom',
    );
    const monitor = find(objects, 'ServiceMonitor', 'mlpipeline-controller');
    assert.equal(monitor.metadata.labels.release, 'prom');
    assert.deepEqual(monitor.spec.endpoints, [
      { port: 'metrics', path: '/metrics', interval: '30s' },
    ]);
    const metrics = find(objects, 'Service', 'mlpipeline-controller-metrics');
    // A ServiceMonitor selects Services by their labels.
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
      assert.equal(metrics.metadata.labels[k], v, `the metrics Service has label ${k}`);
    }
  });

  it('names objects after the release, so two releases never share a ClusterRole', async () => {
    const objects = manifests(await helmOk(['template', 'team-a', CHART, '-n', 'ops'], { home }));
    const names = objects.filter((o) => o.kind === 'ClusterRole').map((o) => o.metadata.name);
    assert.deepEqual(names, ['team-a-mlpipeline-controller']);
    const controller = find(objects, 'Deployment', 'team-a-mlpipeline-controller');
    const env = controller.spec.template.spec.containers[0].env;
    const stage = env.find((e: Manifest) => e.name === 'MLP_STAGE_SERVICE_ACCOUNT');
    assert.equal(stage.value, 'team-a-mlpipeline-stage');
  });

  it('refuses bad values with the path of the field', async () => {
    const cases: [string, RegExp][] = [
      ['s3.prefix=models', /\/s3\/prefix/],
      ['controller.replicas=-1', /\/controller\/replicas/],
      ['image.pullPolicy=Sometimes', /\/image\/pullPolicy/],
      ['controller.metrics.port=70000', /\/controller\/metrics\/port/],
      ['database.secretName=Not_A_Name', /\/database\/secretName/],
      ['ui.servicePort=80', /additional properties 'servicePort' not allowed/],
    ];
    for (const [value, message] of cases) {
      const r = await helm(['template', RBAC_RELEASE, CHART, '--set', value], { home });
      assert.notEqual(r.code, 0, `${value} is refused`);
      assert.match(r.stderr, message, value);
    }
  });

  it('prints what to do next after an install', async () => {
    const out = await helmOk(
      [
        'install',
        RBAC_RELEASE,
        CHART,
        '-n',
        RBAC_NAMESPACE,
        '--dry-run=client',
        '-f',
        join(ROOT, 'deploy/kind/values.yaml'),
      ],
      { home },
    );
    const notes = out.slice(out.indexOf('NOTES:'));
    assert.match(notes, /rollout status deployment\/mlpipeline-controller/);
    assert.match(notes, /port-forward service\/mlpipeline-ui 8080:80/);
    assert.match(notes, /get secret mlpipeline-ui-token/);
    assert.doesNotMatch(notes, /No results database is set/);

    const bare = await helmOk(['install', 'bare', CHART, '--dry-run=client'], { home });
    assert.match(bare, /No results database is set \(database\.secretName\)/);
    assert.match(bare, /No model store is set \(s3\.bucket\)/);
    assert.match(bare, /The UI is read-only/);
  });
});
