/**
 * deploy/kind/up.sh cannot run here (no Docker), so it is checked in the
 * parts that can: shellcheck finds nothing in it, what it applies (printed by
 * `up.sh --print-manifests`: the development MariaDB and SeaweedFS, the
 * Secrets, the rendered chart, the Iris pipeline) fits together, and a real
 * API server accepts every object in a server-side dry run.
 *
 * Needs shellcheck, helm and the control-plane binaries (test/infra/install.sh);
 * skipped without them unless MLP_CLUSTER_REQUIRED=1 makes that a failure.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { parse } from 'yaml';

import { apiClient, clusterSkip, eventually, type Api } from '../cluster/api-client.js';
import { startControlPlane, type ControlPlane } from '../cluster/control-plane.js';
import { ROOT, helmBinary, helmSkip, manifests, type Manifest } from './helm.js';

/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   Manifests and API replies are read loosely, as JSON: each check names the fields it reads. */

const execFileAsync = promisify(execFile);
const UP = join(ROOT, 'deploy/kind/up.sh');
const SHELL_SCRIPTS = [
  UP,
  join(ROOT, 'test/cluster/build-helm.sh'),
  join(ROOT, 'test/cluster/build.sh'),
  join(ROOT, 'test/infra/install.sh'),
];
const NAMESPACE = 'mlpipeline';

function hasShellcheck(): boolean {
  try {
    execFileSync('shellcheck', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const shellcheckSkip =
  !hasShellcheck() && process.env.MLP_CLUSTER_REQUIRED !== '1'
    ? 'no shellcheck: run test/infra/install.sh'
    : false;

/** What up.sh would apply, for the namespace given. */
async function printedManifests(home: string, namespace = NAMESPACE): Promise<Manifest[]> {
  const { stdout } = await execFileAsync(UP, ['--print-manifests'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_DATA_HOME: join(home, 'data'),
      HELM: helmBinary(),
      NAMESPACE: namespace,
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  return manifests(stdout);
}

const find = (objects: Manifest[], kind: string, name: string): Manifest => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} is among the manifests`);
  return found;
};

describe('deploy/kind/up.sh', () => {
  it(
    'passes shellcheck, as do the other scripts users and CI run',
    { skip: shellcheckSkip },
    async () => {
      const r = await execFileAsync('shellcheck', ['--severity=style', ...SHELL_SCRIPTS]).catch(
        (err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? '', code: err.code }),
      );
      assert.equal(r.stdout, '', 'shellcheck found nothing');
    },
  );

  it('names a kind cluster config kind can read', async () => {
    const config = parse(await readFile(join(ROOT, 'deploy/kind/cluster.yaml'), 'utf8'));
    assert.equal(config.kind, 'Cluster');
    assert.equal(config.apiVersion, 'kind.x-k8s.io/v1alpha4');
    assert.ok(config.nodes.length >= 1);
  });

  describe('its manifests', { skip: helmSkip, timeout: 120_000 }, () => {
    let home: string;
    let objects: Manifest[];

    before(async () => {
      home = await mkdtemp(join(tmpdir(), 'mlp-kind-'));
      objects = await printedManifests(home);
    });

    after(async () => {
      await rm(home, { recursive: true, force: true });
    });

    it('put every namespaced object in the namespace asked for', async () => {
      const other = await printedManifests(home, 'ml-dev');
      const clusterScoped = [
        'Namespace',
        'CustomResourceDefinition',
        'ClusterRole',
        'ClusterRoleBinding',
      ];
      for (const o of other) {
        if (clusterScoped.includes(o.kind)) continue;
        assert.equal(o.metadata.namespace, 'ml-dev', `${o.kind} ${o.metadata.name}`);
      }
      assert.equal(find(other, 'Namespace', 'ml-dev').kind, 'Namespace');
    });

    it('fit together: Secrets, Services, ports and credentials each side names', async () => {
      const secret = (name: string) => find(objects, 'Secret', name).stringData;
      const service = (name: string) => find(objects, 'Service', name);

      // The chart's values name Secrets that the script creates.
      const controller = find(objects, 'Deployment', 'mlpipeline-controller');
      const env = new Map<string, Manifest>(
        controller.spec.template.spec.containers[0].env.map((e: Manifest) => [e.name, e]),
      );
      const dbSecret = env.get('MLP_DATABASE_SECRET').value;
      const s3Secret = env.get('MLP_S3_CREDENTIALS_SECRET').value;
      const dbUrl = new URL(secret(dbSecret).url);
      assert.equal(dbUrl.hostname, `mariadb.${NAMESPACE}.svc`);
      assert.equal(Number(dbUrl.port), service('mariadb').spec.ports[0].port);
      assert.equal(secret('rds').url, secret(dbSecret).url, 'the pipeline reads the same database');

      // MariaDB is created with the user, password and database of that URL.
      const mariadb = find(objects, 'Deployment', 'mariadb').spec.template.spec.containers[0];
      const mariadbEnv = new Map<string, Manifest>(mariadb.env.map((e: Manifest) => [e.name, e]));
      assert.equal(mariadbEnv.get('MARIADB_USER').value, dbUrl.username);
      assert.equal(mariadbEnv.get('MARIADB_DATABASE').value, dbUrl.pathname.slice(1));
      const passwordRef = mariadbEnv.get('MARIADB_PASSWORD').valueFrom.secretKeyRef;
      assert.equal(secret(passwordRef.name)[passwordRef.key], dbUrl.password);

      // The seed is the example's SQL, unchanged.
      const seed = find(objects, 'ConfigMap', 'iris-seed').data['seed.sql'];
      assert.equal(seed, await readFile(join(ROOT, 'examples/mysql/seed.sql'), 'utf8'));

      // SeaweedFS knows the access key the operator gets, and serves where the chart points.
      const identities = JSON.parse(secret('seaweedfs-s3')['s3.json']).identities;
      assert.deepEqual(identities[0].credentials, [
        {
          accessKey: secret(s3Secret).AWS_ACCESS_KEY_ID,
          secretKey: secret(s3Secret).AWS_SECRET_ACCESS_KEY,
        },
      ]);
      const endpoint = new URL(env.get('S3_ENDPOINT').value);
      assert.equal(endpoint.hostname, `seaweedfs.${NAMESPACE}.svc`);
      assert.equal(Number(endpoint.port), service('seaweedfs').spec.ports[0].port);
      const weed = find(objects, 'Deployment', 'seaweedfs').spec.template.spec.containers[0];
      assert.ok(weed.args.includes(`-s3.port=${endpoint.port}`), weed.args.join(' '));

      // The UI's token and the pipeline's connection Secret exist.
      const ui = find(objects, 'Deployment', 'mlpipeline-ui').spec.template.spec.containers[0];
      const tokenRef = ui.env.find((e: Manifest) => e.name === 'MLPIPELINE_API_TOKEN').valueFrom
        .secretKeyRef;
      assert.match(secret(tokenRef.name)[tokenRef.key], /^[0-9a-f]{32}$/);
      const pipeline = find(objects, 'MLPipeline', 'iris-mysql');
      assert.equal(pipeline.spec.source.mysql.connectionSecretRef.name, 'rds');

      // Images are pinned, and the operator's is the one kind loads, never pulled.
      assert.equal(controller.spec.template.spec.containers[0].image, 'mlpipeline-operator:dev');
      assert.equal(controller.spec.template.spec.containers[0].imagePullPolicy, 'Never');
      for (const name of ['mariadb', 'seaweedfs']) {
        const image: string = find(objects, 'Deployment', name).spec.template.spec.containers[0]
          .image;
        assert.match(image, /:[0-9][\w.]*$/, `${name} image ${image} names a version`);
      }
    });

    it('fresh credentials each time the cluster has none', async () => {
      const again = await printedManifests(home);
      assert.notEqual(
        find(again, 'Secret', 'mariadb').stringData.password,
        find(objects, 'Secret', 'mariadb').stringData.password,
      );
    });

    describe('on a real API server', { skip: clusterSkip, timeout: 300_000 }, () => {
      let cp: ControlPlane;
      let api: Api<Manifest>;
      /** Kind -> where it is created and whether it is namespaced, from discovery. */
      const resources = new Map<string, { path: string; namespaced: boolean }>();

      const discover = async (apiVersion: string) => {
        const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
        const r = await api('GET', base);
        assert.equal(r.status, 200, `discovery of ${apiVersion}: ${JSON.stringify(r.body)}`);
        for (const res of r.body.resources) {
          if (res.name.includes('/')) continue;
          resources.set(`${apiVersion} ${res.kind}`, {
            path: `${base}/${res.name}`,
            namespaced: res.namespaced,
          });
        }
      };
      const objectPath = async (o: Manifest) => {
        const key = `${o.apiVersion} ${o.kind}`;
        if (!resources.has(key)) await discover(o.apiVersion);
        const r = resources.get(key);
        assert.ok(r, `the API server serves ${key}`);
        const { path, namespaced } = r;
        const withNs = namespaced
          ? path.replace(/\/([^/]+)$/, `/namespaces/${o.metadata.namespace}/$1`)
          : path;
        return `${withNs}/${o.metadata.name}`;
      };
      /** Server-side apply, as `kubectl apply --server-side [--dry-run=server]` sends it. */
      const apply = async (o: Manifest, dryRun: boolean) => {
        const query = `fieldManager=up.sh&force=true&fieldValidation=Strict${dryRun ? '&dryRun=All' : ''}`;
        return api('PATCH', `${await objectPath(o)}?${query}`, o, 'application/apply-patch+yaml');
      };

      before(async () => {
        cp = await startControlPlane({ dir: join(ROOT, '.test-infra', 'kind-manifests') });
        api = apiClient<Manifest>(cp);
      });

      after(async () => {
        await cp?.stop();
      });

      it('accepts every object in a server-side dry run', async () => {
        // What the others are checked inside must exist: the namespace, and the CRD that
        // makes MLPipeline a kind.
        const namespace = find(objects, 'Namespace', NAMESPACE);
        const crd = objects.find((o) => o.kind === 'CustomResourceDefinition');
        for (const o of [namespace, crd]) {
          const r = await apply(o, false);
          assert.ok([200, 201].includes(r.status), `${o.kind}: ${JSON.stringify(r.body)}`);
        }
        await eventually('the MLPipeline kind to be served', 30_000, async () => {
          const r = await api('GET', '/apis/mlpipeline.dev/v1alpha1');
          return r.status === 200 ? true : undefined;
        });

        const rest = objects.filter((o) => o !== namespace && o !== crd);
        assert.ok(rest.length >= 20, `${rest.length} objects`);
        const refused: string[] = [];
        for (const o of rest) {
          const r = await apply(o, true);
          if (![200, 201].includes(r.status)) {
            refused.push(`${o.kind} ${o.metadata.name}: ${r.status} ${r.body.message}`);
          }
          for (const w of r.warnings) refused.push(`${o.kind} ${o.metadata.name}: warning ${w}`);
        }
        assert.deepEqual(refused, []);

        // A dry run leaves nothing behind.
        const left = await api('GET', `/api/v1/namespaces/${NAMESPACE}/secrets/mariadb`);
        assert.equal(left.status, 404);
      });
    });
  });
});
