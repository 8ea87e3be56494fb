import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { V1CronJob, V1EnvVar } from '@kubernetes/client-node';
import { parse } from 'yaml';

import type { StageName } from '../core/ports.js';
import { checkPipelineDocument } from '../core/spec/load.js';
import type { MLPipelineSpec } from '../core/spec/types.generated.js';
import {
  clusterSpecProblems,
  configMapNeedsUpdate,
  cronJobNeedsUpdate,
  cronJobUpdate,
  desiredConfigMap,
  desiredCronJobs,
  isOwnedBy,
  NEVER_SCHEDULE,
  ownerReference,
  PIPELINE_FILE_KEY,
  type ControllerSettings,
} from './desired.js';
import { apiDefaulted, pipeline, SETTINGS, SPEC } from './fixtures.js';
import { LABEL_PIPELINE, LABEL_STAGE } from './names.js';

const STAGE_INDEX: Record<StageName, number> = { collect: 0, clean: 1, train: 2, predict: 3 };

function byStage(cronJobs: V1CronJob[], stage: StageName): V1CronJob {
  const found = cronJobs[STAGE_INDEX[stage]];
  assert.ok(found, `no CronJob for ${stage}`);
  return found;
}

function podOf(cronJob: V1CronJob) {
  const pod = cronJob.spec?.jobTemplate.spec?.template.spec;
  assert.ok(pod);
  return pod;
}

function envOf(cronJob: V1CronJob): V1EnvVar[] {
  return podOf(cronJob).containers[0]?.env ?? [];
}

/** Every leaf of a JSON value by its path, to see exactly which fields an edit changes. */
function leaves(value: unknown, path = '', out = new Map<string, string>()): Map<string, string> {
  if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (inner !== undefined) leaves(inner, path ? `${path}.${key}` : key, out);
    }
  } else {
    out.set(path, JSON.stringify(value));
  }
  return out;
}

function changedPaths(before: unknown, after: unknown): string[] {
  const a = leaves(JSON.parse(JSON.stringify(before)));
  const b = leaves(JSON.parse(JSON.stringify(after)));
  const paths = new Set([...a.keys(), ...b.keys()]);
  return [...paths].filter((p) => a.get(p) !== b.get(p)).sort();
}

describe('desiredCronJobs', () => {
  const p = pipeline();
  const cronJobs = desiredCronJobs(p, SETTINGS);

  it('builds one CronJob per stage, named from the pipeline and owned by it', () => {
    assert.deepEqual(
      cronJobs.map((c) => c.metadata?.name),
      ['iris-collect', 'iris-clean', 'iris-train', 'iris-predict'],
    );
    for (const cronJob of cronJobs) {
      assert.equal(cronJob.metadata?.namespace, 'ml');
      assert.deepEqual(cronJob.metadata?.ownerReferences, [
        {
          apiVersion: 'mlpipeline.dev/v1alpha1',
          kind: 'MLPipeline',
          name: 'iris',
          uid: p.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      assert.ok(isOwnedBy(cronJob, p.uid));
    }
  });

  it('labels the CronJob, its job template and its pod template', () => {
    for (const stage of ['collect', 'clean', 'train', 'predict'] as const) {
      const cronJob = byStage(cronJobs, stage);
      const expected = { [LABEL_PIPELINE]: 'iris', [LABEL_STAGE]: stage };
      assert.deepEqual(cronJob.metadata?.labels, expected);
      assert.deepEqual(cronJob.spec?.jobTemplate.metadata?.labels, expected);
      assert.deepEqual(cronJob.spec?.jobTemplate.spec?.template.metadata?.labels, expected);
    }
  });

  const schedules: [stage: StageName, schedule: string][] = [
    ['collect', '*/2 * * * *'],
    ['clean', NEVER_SCHEDULE],
    ['train', '0 3 * * *'],
    ['predict', NEVER_SCHEDULE],
  ];
  for (const [stage, schedule] of schedules) {
    it(`gives ${stage} the schedule ${schedule}, suspended: the controller creates the Jobs`, () => {
      const spec = byStage(cronJobs, stage).spec;
      assert.equal(spec?.schedule, schedule);
      assert.equal(spec?.suspend, true);
      assert.equal(spec?.timeZone, 'Etc/UTC');
      assert.equal(spec?.concurrencyPolicy, 'Forbid');
      assert.equal(spec?.startingDeadlineSeconds, 60);
      assert.equal(spec?.successfulJobsHistoryLimit, 20);
      assert.equal(spec?.failedJobsHistoryLimit, 20);
    });
  }

  const stageSettings: [
    stage: StageName,
    backoffLimit: number,
    deadline: number | undefined,
    resources: object | undefined,
  ][] = [
    ['collect', 0, undefined, undefined],
    ['train', 2, 600, undefined],
    ['predict', 0, undefined, { limits: { memory: '256Mi' }, requests: { cpu: '0.5' } }],
  ];
  for (const [stage, backoffLimit, deadline, resources] of stageSettings) {
    it(`carries the settings of ${stage}: retries, deadline, resources`, () => {
      const job = byStage(cronJobs, stage).spec?.jobTemplate.spec;
      assert.equal(job?.backoffLimit, backoffLimit);
      assert.equal(job?.activeDeadlineSeconds, deadline);
      assert.deepEqual(job?.template.spec?.containers[0]?.resources, resources);
    });
  }

  it('runs the stage command as non-root, read-only, without privileges or an API token', () => {
    for (const stage of ['collect', 'clean', 'train', 'predict'] as const) {
      const pod = podOf(byStage(cronJobs, stage));
      const container = pod.containers[0];
      assert.equal(pod.containers.length, 1);
      assert.equal(pod.restartPolicy, 'Never');
      assert.equal(pod.serviceAccountName, 'mlpipeline-stage');
      assert.equal(pod.automountServiceAccountToken, false);
      assert.equal(pod.securityContext?.runAsNonRoot, true);
      assert.deepEqual(container?.command, ['mlpipeline', 'stage', stage]);
      assert.equal(container?.image, 'mlpipeline:test');
      assert.equal(container?.imagePullPolicy, 'IfNotPresent');
      assert.deepEqual(container?.securityContext, {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
      assert.deepEqual(container?.volumeMounts, [
        { name: 'tmp', mountPath: '/tmp' },
        { name: 'pipeline', mountPath: '/etc/mlpipeline', readOnly: true },
      ]);
      assert.deepEqual(pod.volumes, [
        { name: 'tmp', emptyDir: {} },
        { name: 'pipeline', configMap: { name: 'iris-pipeline' } },
      ]);
    }
  });

  it('tells the pod its pipeline, its file and, through the downward API, its run id', () => {
    const env = envOf(byStage(cronJobs, 'clean'));
    const find = (name: string) => env.find((e) => e.name === name);
    assert.deepEqual(find('MLP_PIPELINE'), { name: 'MLP_PIPELINE', value: 'iris' });
    assert.deepEqual(find('MLP_PIPELINE_FILE'), {
      name: 'MLP_PIPELINE_FILE',
      value: '/etc/mlpipeline/pipeline.yaml',
    });
    assert.deepEqual(find('MLP_RUN_ID')?.valueFrom, {
      fieldRef: { apiVersion: 'v1', fieldPath: "metadata.annotations['mlpipeline.dev/run-id']" },
    });
  });

  const secretsByStage: [stage: StageName, prefixes: string[]][] = [
    ['collect', ['MYSQL_', 'RDS_']],
    ['clean', ['MYSQL_']],
    ['train', ['MYSQL_']],
    ['predict', ['MYSQL_', 'RDS_', 'RESULTS_DB_']],
  ];
  for (const [stage, prefixes] of secretsByStage) {
    it(`gives ${stage} the database Secrets it reads, ${prefixes.join(' ')}, by reference`, () => {
      const container = podOf(byStage(cronJobs, stage)).containers[0];
      assert.deepEqual(
        container?.envFrom?.map((e) => e.prefix),
        prefixes,
      );
      const secretNames = { MYSQL_: 'mlpipeline-db', RDS_: 'rds', RESULTS_DB_: 'results-db' };
      for (const source of container?.envFrom ?? []) {
        assert.equal(
          source.secretRef?.name,
          secretNames[source.prefix as keyof typeof secretNames],
        );
      }
      const password = container?.env?.find((e) => e.name === `${prefixes.at(-1)}PASSWORD`);
      assert.deepEqual(password?.valueFrom?.secretKeyRef, {
        name: secretNames[prefixes.at(-1) as keyof typeof secretNames],
        key: 'password',
        optional: true,
      });
    });
  }

  it('inlines no secret: every variable but plain settings comes from a reference', () => {
    const plain = new Set([
      'MLP_PIPELINE',
      'MLP_PIPELINE_FILE',
      'MLPIPELINE_DATA_DIR',
      'S3_BUCKET',
      'S3_PREFIX',
      'S3_ENDPOINT',
      'S3_REGION',
    ]);
    for (const cronJob of cronJobs) {
      for (const variable of envOf(cronJob)) {
        if (plain.has(variable.name)) {
          assert.equal(typeof variable.value, 'string', variable.name);
          continue;
        }
        assert.equal(variable.value, undefined, `${variable.name} has a literal value`);
        const from = variable.valueFrom;
        assert.ok(from?.secretKeyRef ?? from?.fieldRef, `${variable.name} has no reference`);
      }
      assert.doesNotMatch(JSON.stringify(cronJob), /secret-value|"password":/i);
    }
    const aws = envOf(byStage(cronJobs, 'train')).filter((e) => e.name.startsWith('AWS_'));
    assert.deepEqual(
      aws.map((e) => [
        e.name,
        e.valueFrom?.secretKeyRef?.name,
        e.valueFrom?.secretKeyRef?.optional,
      ]),
      [
        ['AWS_ACCESS_KEY_ID', 'mlpipeline-s3', false],
        ['AWS_SECRET_ACCESS_KEY', 'mlpipeline-s3', false],
        ['AWS_SESSION_TOKEN', 'mlpipeline-s3', true],
      ],
    );
  });

  it('leaves out what the deployment does not configure', () => {
    const bare: ControllerSettings = {
      image: 'mlpipeline:test',
      imagePullPolicy: 'Always',
      stageServiceAccount: 'stage',
    };
    const env = envOf(
      byStage(desiredCronJobs(pipeline({ source: { builtin: 'iris' } }), bare), 'collect'),
    );
    assert.deepEqual(
      env.map((e) => e.name),
      ['MLP_PIPELINE', 'MLP_PIPELINE_FILE', 'MLP_RUN_ID', 'MLPIPELINE_DATA_DIR'],
    );
  });
});

describe('a spec edit changes exactly the fields it should', () => {
  const cases: [
    name: string,
    edit: (spec: MLPipelineSpec) => void,
    changes: Partial<Record<StageName, string[]>>,
  ][] = [
    [
      'the pipeline schedule',
      (spec) => (spec.schedule = '*/5 * * * *'),
      { collect: ['spec.schedule'] },
    ],
    [
      'a stage schedule',
      (spec) => (spec.stages!.train!.schedule = '0 4 * * *'),
      { train: ['spec.schedule'] },
    ],
    [
      'a stage schedule added',
      (spec) => (spec.stages!.predict!.schedule = '*/2 * * * *'),
      { predict: ['spec.schedule'] },
    ],
    [
      'retries',
      (spec) => (spec.stages!.train!.retries = 5),
      { train: ['spec.jobTemplate.spec.backoffLimit'] },
    ],
    [
      'a deadline removed',
      (spec) => delete spec.stages!.train!.activeDeadlineSeconds,
      { train: ['spec.jobTemplate.spec.activeDeadlineSeconds'] },
    ],
    [
      'a memory limit',
      (spec) => (spec.stages!.predict!.resources!.limits!.memory = '512Mi'),
      { predict: ['spec.jobTemplate.spec.template.spec.containers.0.resources.limits.memory'] },
    ],
    [
      'a cpu request removed',
      (spec) => delete spec.stages!.predict!.resources!.requests,
      { predict: ['spec.jobTemplate.spec.template.spec.containers.0.resources.requests.cpu'] },
    ],
    [
      'the time zone',
      (spec) => (spec.timeZone = 'Europe/Paris'),
      {
        collect: ['spec.timeZone'],
        clean: ['spec.timeZone'],
        train: ['spec.timeZone'],
        predict: ['spec.timeZone'],
      },
    ],
    [
      'the history limit',
      (spec) => (spec.historyLimit = 5),
      Object.fromEntries(
        (['collect', 'clean', 'train', 'predict'] as const).map((stage) => [
          stage,
          ['spec.failedJobsHistoryLimit', 'spec.successfulJobsHistoryLimit'],
        ]),
      ),
    ],
    ['the features (read from the ConfigMap)', (spec) => spec.features.pop(), {}],
    ['suspend (carried out by the controller)', (spec) => (spec.suspend = true), {}],
  ];

  for (const [name, edit, changes] of cases) {
    it(name, () => {
      const before = pipeline();
      const after = pipeline();
      edit(after.spec);
      const old = desiredCronJobs(before, SETTINGS);
      const now = desiredCronJobs(after, SETTINGS);
      for (const stage of ['collect', 'clean', 'train', 'predict'] as const) {
        const expected = changes[stage] ?? [];
        assert.deepEqual(changedPaths(byStage(old, stage), byStage(now, stage)), expected, stage);
        assert.equal(
          cronJobNeedsUpdate(apiDefaulted(byStage(old, stage)), byStage(now, stage)),
          expected.length > 0,
          `${stage} needs an update`,
        );
      }
    });
  }
});

describe('cronJobNeedsUpdate', () => {
  const desired = desiredCronJobs(pipeline(), SETTINGS);

  it('needs no update for a copy with everything the API server adds', () => {
    for (const cronJob of desired) {
      const stored = apiDefaulted(cronJob);
      assert.notDeepEqual(stored, cronJob);
      assert.equal(cronJobNeedsUpdate(stored, cronJob), false, cronJob.metadata?.name);
    }
  });

  const drifts: [name: string, change: (stored: V1CronJob) => void, needed: boolean][] = [
    ['a label someone else added', (c) => (c.metadata!.labels!['app'] = 'x'), false],
    ['our label changed', (c) => (c.metadata!.labels![LABEL_STAGE] = 'train'), true],
    ['the same quantity spelt otherwise', (c) => setLimit(c, '0.25Gi'), false],
    ['another quantity', (c) => setLimit(c, '300Mi'), true],
    ['resumed by hand', (c) => (c.spec!.suspend = false), true],
    ['the image', (c) => (podOf(c).containers[0]!.image = 'other:1'), true],
    ['a variable added', (c) => podOf(c).containers[0]!.env!.push({ name: 'X', value: '1' }), true],
    [
      'a hostPath in place of /tmp',
      (c) => (podOf(c).volumes![0] = { name: 'tmp', hostPath: { path: '/' } }),
      true,
    ],
    ['args added', (c) => (podOf(c).containers[0]!.args = ['--stage', 'x']), true],
    ['another owner', (c) => (c.metadata!.ownerReferences![0]!.uid = 'other'), true],
  ];
  for (const [name, change, needed] of drifts) {
    it(`${needed ? 'needs' : 'needs no'} update for ${name}`, () => {
      const predict = byStage(desired, 'predict');
      const stored = apiDefaulted(predict);
      change(stored);
      assert.equal(cronJobNeedsUpdate(stored, predict), needed);
    });
  }

  it('builds an update that keeps others labels and the resourceVersion and then matches', () => {
    const edited = pipeline();
    edited.spec.schedule = '*/10 * * * *';
    const collect = byStage(desiredCronJobs(edited, SETTINGS), 'collect');
    const stored = apiDefaulted(byStage(desired, 'collect'));
    const update = cronJobUpdate(stored, collect);
    assert.equal(update.metadata?.resourceVersion, '4711');
    assert.equal(update.metadata?.labels?.['team.example/owner'], 'data');
    assert.equal(update.spec?.schedule, '*/10 * * * *');
    assert.equal(cronJobNeedsUpdate(apiDefaulted(update), collect), false);
  });
});

function setLimit(cronJob: V1CronJob, memory: string): void {
  podOf(cronJob).containers[0]!.resources!.limits!.memory = memory;
}

describe('desiredConfigMap', () => {
  it('holds a pipeline document that validates as the stage command will read it', () => {
    const configMap = desiredConfigMap(pipeline());
    assert.equal(configMap.metadata?.name, 'iris-pipeline');
    assert.deepEqual(configMap.metadata?.ownerReferences, [ownerReference(pipeline())]);
    const document = parse(configMap.data?.[PIPELINE_FILE_KEY] ?? '') as {
      metadata: { name: string };
      spec: MLPipelineSpec;
    };
    assert.equal(document.metadata.name, 'iris');
    assert.deepEqual(document.spec, SPEC);
    assert.deepEqual(checkPipelineDocument(document, '/'), []);
  });

  it('gives the same text for the same spec in another key order', () => {
    const reordered = pipeline();
    reordered.spec = Object.fromEntries(
      Object.entries(SPEC).reverse(),
    ) as unknown as MLPipelineSpec;
    const a = desiredConfigMap(pipeline());
    const b = desiredConfigMap(reordered);
    assert.equal(configMapNeedsUpdate(a, b), false);
    const edited = pipeline({ label: 'variety' });
    assert.equal(configMapNeedsUpdate(a, desiredConfigMap(edited)), true);
  });
});

describe('isOwnedBy', () => {
  const uid = pipeline().uid;
  const cases: [name: string, refs: object[] | undefined, owned: boolean][] = [
    ['no owner', undefined, false],
    ['us as controller', [ownerReference(pipeline())], true],
    ['us, not as controller', [{ ...ownerReference(pipeline()), controller: false }], false],
    ['a namesake with another uid', [{ ...ownerReference(pipeline()), uid: 'x' }], false],
  ];
  for (const [name, refs, owned] of cases) {
    it(name, () => {
      assert.equal(isOwnedBy({ metadata: { ownerReferences: refs as never } }, uid), owned);
    });
  }
});

describe('clusterSpecProblems', () => {
  const cases: [
    name: string,
    spec: Partial<MLPipelineSpec>,
    settings: ControllerSettings,
    paths: string[],
  ][] = [
    ['the example', {}, SETTINGS, []],
    ['a schedule that does not parse', { schedule: '61 * * * *' }, SETTINGS, ['spec.schedule']],
    ['a schedule that never fires', { schedule: '0 0 30 2 *' }, SETTINGS, ['spec.schedule']],
    ['a time zone that does not exist', { timeZone: 'Mars/Olympus' }, SETTINGS, ['spec.timeZone']],
    ['a time zone in the wrong case', { timeZone: 'europe/paris' }, SETTINGS, ['spec.timeZone']],
    [
      'a local model folder',
      { modelStore: { dir: { path: 'data' } } },
      SETTINGS,
      ['spec.modelStore.dir'],
    ],
    [
      'no model store anywhere',
      { modelStore: undefined },
      { ...SETTINGS, s3: undefined },
      ['spec.modelStore'],
    ],
    ['the deployment store', { modelStore: undefined }, SETTINGS, []],
    ['a local CSV', { source: { csv: { path: 'iris.csv' } } }, SETTINGS, ['spec.source.csv.path']],
    ['a CSV in S3', { source: { csv: { path: 's3://data/iris.csv' } } }, SETTINGS, []],
  ];
  for (const [name, spec, settings, paths] of cases) {
    it(name, () => {
      assert.deepEqual(
        clusterSpecProblems(pipeline(spec).spec, settings).map((p) => p.path),
        paths,
      );
    });
  }
});
