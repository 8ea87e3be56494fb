/**
 * Starts a real control plane (etcd, kube-apiserver, kube-controller-manager
 * on 127.0.0.1) and checks what the controller tests will rely on: the
 * project's CRD is accepted and its validation rules are enforced by the API
 * server, and the controllers run (CronJob -> Job, garbage collection,
 * namespace deletion).
 *
 * The binaries come from test/cluster/build.sh; without them the suite is
 * skipped, unless MLP_CLUSTER_REQUIRED=1 makes their absence a failure.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkPipelineDocument } from '../../core/spec/load.js';
import {
  apiClient,
  clusterSkip,
  createNamespace,
  ensureCrd,
  eventually,
  type Api,
} from './api-client.js';
import { startControlPlane, type ControlPlane } from './control-plane.js';

const CRD_FILE = fileURLToPath(
  new URL('../../crds/mlpipeline.dev_mlpipelines.yaml', import.meta.url),
);
const DIR = fileURLToPath(new URL('../../.test-infra/control-plane/', import.meta.url));
const NS = 'mlp-cluster-test';
const PIPELINES = `/apis/mlpipeline.dev/v1alpha1/namespaces/${NS}/mlpipelines`;

interface OwnerRef {
  uid: string;
  controller?: boolean;
}

/** The parts of API objects, lists and Status replies that the checks read. */
interface Body {
  gitVersion?: string;
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; message?: string }[] };
  metadata?: { name?: string; uid?: string; ownerReferences?: OwnerRef[] };
  spec?: {
    timeZone?: string;
    concurrencyPolicy?: string;
    missedRuns?: unknown;
    train?: { algorithm?: string; params?: { numSteps?: number } };
  };
  status?: { conditions?: { type: string; status: string }[] };
  items?: Body[];
}

/** A minimal JSON client for the API server, authenticated by the admin client certificate. */
function pipeline(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: 'mlpipeline.dev/v1alpha1',
    kind: 'MLPipeline',
    metadata: { name },
    spec: {
      schedule: '*/2 * * * *',
      source: { builtin: 'iris' },
      features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
      label: 'species',
      ...spec,
    },
  };
}

const jobTemplate = {
  spec: {
    template: {
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'main', image: 'registry.invalid/none:0', command: ['true'] }],
      },
    },
  },
};

describe('control plane', { skip: clusterSkip, timeout: 600_000 }, () => {
  let cp: ControlPlane;
  let api: Api<Body>;

  before(async () => {
    cp = await startControlPlane({ dir: DIR });
    api = apiClient<Body>(cp);
  });

  after(async () => {
    await cp?.stop();
  });

  it('serves the API and creates a namespace with its default service account', async () => {
    const version = await api('GET', '/version');
    assert.equal(version.status, 200);
    assert.match(version.body.gitVersion ?? '', /^v1\.\d+\.\d+/);

    await createNamespace(cp, api, NS);

    // serviceaccount controller
    await eventually('the default service account', 30_000, async () => {
      const r = await api('GET', `/api/v1/namespaces/${NS}/serviceaccounts/default`);
      return r.status === 200 ? true : undefined;
    });
  });

  it('accepts the MLPipeline CRD and establishes it', async (t) => {
    if (cp.external) {
      // The cluster may have the CRD already: it is replaced by the project's.
      await ensureCrd(api);
    } else {
      const crd: unknown = parse(readFileSync(CRD_FILE, 'utf8'));
      const r = await api('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      assert.equal(
        r.status,
        201,
        `the API server rejected the CRD: ${JSON.stringify(r.body, null, 2)}`,
      );
      for (const w of r.warnings) t.diagnostic(`API server warning on the CRD: ${w}`);
    }

    await eventually('the CRD to be Established', 30_000, async () => {
      const g = await api(
        'GET',
        '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mlpipelines.mlpipeline.dev',
      );
      const conditions = g.body.status?.conditions ?? [];
      return conditions.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    });
    // The resource is served shortly after it is Established.
    await eventually('the mlpipelines resource to be served', 30_000, async () => {
      const l = await api('GET', PIPELINES);
      return l.status === 200 ? true : undefined;
    });
  });

  it('stores a valid MLPipeline with the schema defaults applied', async () => {
    const r = await api('POST', PIPELINES, pipeline('iris', {}));
    assert.equal(r.status, 201, JSON.stringify(r.body, null, 2));
    const spec = r.body.spec ?? {};
    assert.equal(spec.timeZone, 'Etc/UTC');
    assert.equal(spec.concurrencyPolicy, 'Forbid');
    assert.deepEqual(spec.missedRuns, { policy: 'RunLatest', limit: 10 });
    assert.equal(spec.train?.algorithm, 'softmax-lbfgs');
    assert.equal(spec.train?.params?.numSteps, 2000);
  });

  it('rejects an MLPipeline with two source kinds, naming spec.source', async (t) => {
    const r = await api(
      'POST',
      PIPELINES,
      pipeline('two-sources', { source: { builtin: 'iris', csv: { path: 'x' } } }),
    );
    t.diagnostic(`API server response: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.status, 422, JSON.stringify(r.body, null, 2));
    assert.equal(r.body.reason, 'Invalid');
    assert.match(r.body.message ?? '', /spec\.source/);
    assert.match(r.body.message ?? '', /exactly one of mysql, csv or builtin must be set/);
    const fields = (r.body.details?.causes ?? []).map((c) => c.field);
    assert.ok(fields.includes('spec.source'), `causes: ${JSON.stringify(r.body.details?.causes)}`);
  });

  it('enforces the CEL rule that the label is not a feature, at spec.label', async (t) => {
    const r = await api(
      'POST',
      PIPELINES,
      pipeline('label-is-feature', { features: ['species', 'petal_width'], label: 'species' }),
    );
    t.diagnostic(`API server response: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.status, 422, JSON.stringify(r.body, null, 2));
    assert.match(r.body.message ?? '', /spec\.label/);
    assert.match(r.body.message ?? '', /label must not also be a feature/);
  });

  // `mlpipeline validate` claims to apply what the API server applies: the
  // same documents must be accepted or rejected by both, at the same field.
  const parity: { name: string; spec: Record<string, unknown>; path: string }[] = [
    { name: 'no-source-kind', spec: { source: {} }, path: 'spec.source' },
    {
      name: 'two-model-stores',
      spec: { modelStore: { s3: { bucket: 'abc' }, dir: { path: 'x' } } },
      path: 'spec.modelStore',
    },
    {
      name: 'sql-injection',
      spec: { source: { mysql: { table: 'x; DROP TABLE y' } } },
      path: 'spec.source.mysql.table',
    },
    { name: 'bad-feature', spec: { features: ['sepal length'] }, path: 'spec.features[0]' },
    { name: 'repeated-feature', spec: { features: ['a', 'a'] }, path: 'spec.features[1]' },
    { name: 'no-features', spec: { features: [] }, path: 'spec.features' },
    {
      name: 'test-fraction',
      spec: { train: { testFraction: 0.9 } },
      path: 'spec.train.testFraction',
    },
    {
      name: 'learning-rate',
      spec: { train: { params: { learningRate: 0 } } },
      path: 'spec.train.params.learningRate',
    },
    { name: 'policy', spec: { concurrencyPolicy: 'Sometimes' }, path: 'spec.concurrencyPolicy' },
    { name: 'missed-limit', spec: { missedRuns: { limit: 0 } }, path: 'spec.missedRuns.limit' },
    {
      name: 'retries',
      spec: { stages: { train: { retries: -1 } } },
      path: 'spec.stages.train.retries',
    },
    { name: 'unknown-field', spec: { shedule: '* * * * *' }, path: 'spec.shedule' },
    { name: 'six-fields', spec: { schedule: '0 */2 * * * *' }, path: 'spec.schedule' },
  ];
  for (const c of parity) {
    it(`agrees with mlpipeline validate: ${c.name} is rejected at ${c.path}`, async () => {
      const doc = pipeline(`parity-${c.name}`, c.spec);
      const offline = checkPipelineDocument(structuredClone(doc), '.');
      assert.ok(
        offline.some((p) => p.path === c.path || p.path.startsWith(`${c.path}`)),
        `offline: ${JSON.stringify(offline)}`,
      );
      const r = await api('POST', `${PIPELINES}?dryRun=All&fieldValidation=Strict`, doc);
      assert.ok(r.status >= 400 && r.status < 500, `API server accepted it: ${r.status}`);
      const field = c.path.replace(/\[\d+\]$/, '');
      assert.ok(
        (r.body.message ?? '').includes(field),
        `API server message does not name ${field}: ${r.body.message}`,
      );
    });
  }

  it('agrees with mlpipeline validate on a valid document', async () => {
    const doc = pipeline('parity-valid', {
      stages: { predict: { schedule: '*/5 * * * *', retries: 2 } },
    });
    assert.deepEqual(checkPipelineDocument(structuredClone(doc), '.'), []);
    const r = await api('POST', `${PIPELINES}?dryRun=All&fieldValidation=Strict`, doc);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });

  it('rejects a name longer than the CRD allows', async () => {
    const r = await api('POST', PIPELINES, pipeline('x'.repeat(41), {}));
    assert.equal(r.status, 422, JSON.stringify(r.body, null, 2));
    assert.match(r.body.message ?? '', /metadata\.name/);
  });

  it('garbage-collects a Job whose owner is deleted', async () => {
    const owner = await api('POST', `/api/v1/namespaces/${NS}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'job-owner' },
    });
    assert.equal(owner.status, 201, JSON.stringify(owner.body));
    const job = await api('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: 'owned-job',
        ownerReferences: [
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'job-owner', uid: owner.body.metadata?.uid },
        ],
      },
      ...jobTemplate,
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));

    // job controller: it creates the Job's pod (which stays Pending: there are no nodes)
    await eventually('the Job controller to create a pod', 60_000, async () => {
      const pods = await api(
        'GET',
        `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent('job-name=owned-job')}`,
      );
      return (pods.body.items?.length ?? 0) > 0 ? true : undefined;
    });

    const del = await api('DELETE', `/api/v1/namespaces/${NS}/configmaps/job-owner`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await eventually('the garbage collector to delete the Job', 60_000, async () => {
      const g = await api('GET', `/apis/batch/v1/namespaces/${NS}/jobs/owned-job`);
      return g.status === 404 ? true : undefined;
    });
  });

  it('runs a CronJob: the controller creates a Job from it', async () => {
    const cj = await api('POST', `/apis/batch/v1/namespaces/${NS}/cronjobs`, {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'every-minute' },
      spec: { schedule: '* * * * *', jobTemplate },
    });
    assert.equal(cj.status, 201, JSON.stringify(cj.body));
    const uid = cj.body.metadata?.uid;
    assert.ok(uid);

    const jobName = await eventually('a Job created by the CronJob', 100_000, async () => {
      const jobs = await api('GET', `/apis/batch/v1/namespaces/${NS}/jobs`);
      const owned = (jobs.body.items ?? []).find((j) =>
        j.metadata?.ownerReferences?.some((o) => o.uid === uid && o.controller),
      );
      return owned?.metadata?.name;
    });
    assert.match(jobName, /^every-minute-\d+$/);
  });

  it('deletes the namespace with everything in it', async () => {
    const del = await api('DELETE', `/api/v1/namespaces/${NS}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await eventually('the namespace controller to finish deleting', 120_000, async () => {
      const g = await api('GET', `/api/v1/namespaces/${NS}`);
      return g.status === 404 ? true : undefined;
    });
  });
});
