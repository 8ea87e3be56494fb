import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { renderSpecTypes } from './generate-types.js';
import { checkPipelineDocument, loadPipelines, SpecValidationError } from './load.js';

function pipeline(spec: Record<string, unknown>, name = 'iris'): Record<string, unknown> {
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

describe('checkPipelineDocument', () => {
  it('accepts the Iris pipeline and fills in the CRD defaults', () => {
    const doc = pipeline({});
    assert.deepEqual(checkPipelineDocument(doc, '.'), []);
    const spec = doc.spec as Record<string, Record<string, unknown>>;
    assert.equal(spec.timeZone, 'Etc/UTC');
    assert.equal(spec.concurrencyPolicy, 'Forbid');
    assert.deepEqual(spec.missedRuns, { policy: 'RunLatest', limit: 10 });
    assert.equal((spec.train!.params as Record<string, unknown>).numSteps, 2000);
    assert.equal((spec.train!.promotion as Record<string, unknown>).metric, 'accuracy');
  });

  const bad: { name: string; doc: Record<string, unknown>; path: string; message: RegExp }[] = [
    {
      name: 'no schedule',
      doc: pipeline({ schedule: undefined }),
      path: 'spec.schedule',
      message: /is required/,
    },
    {
      name: 'six-field cron',
      doc: pipeline({ schedule: '0 */2 * * * *' }),
      path: 'spec.schedule',
      message: /./,
    },
    {
      name: 'cron out of range',
      doc: pipeline({ schedule: '61 * * * *' }),
      path: 'spec.schedule',
      message: /./,
    },
    {
      name: 'unknown time zone',
      doc: pipeline({ timeZone: 'Mars/Olympus' }),
      path: 'spec.timeZone',
      message: /./,
    },
    {
      name: 'two source kinds',
      doc: pipeline({ source: { builtin: 'iris', csv: { path: 'x.csv' } } }),
      path: 'spec.source',
      message: /exactly one of mysql, csv or builtin/,
    },
    {
      name: 'no source kind',
      doc: pipeline({ source: {} }),
      path: 'spec.source',
      message: /exactly one/,
    },
    {
      name: 'SQL injection in a table name',
      doc: pipeline({ source: { mysql: { table: 'iris; DROP TABLE x' } } }),
      path: 'spec.source.mysql.table',
      message: /table name/,
    },
    {
      name: 'bad feature identifier',
      doc: pipeline({ features: ['sepal length'] }),
      path: 'spec.features[0]',
      message: /SQL identifier/,
    },
    {
      name: 'repeated feature',
      doc: pipeline({ features: ['a', 'a'] }),
      path: 'spec.features[1]',
      message: /repeats entry 0/,
    },
    {
      name: 'no features',
      doc: pipeline({ features: [] }),
      path: 'spec.features',
      message: /fewer than 1/,
    },
    {
      name: 'label is a feature',
      doc: pipeline({ features: ['species', 'sepal_length'] }),
      path: 'spec.label',
      message: /label must not also be a feature/,
    },
    {
      name: 'feature missing from the data set',
      doc: pipeline({ features: ['sepal_length', 'petal_area'] }),
      path: 'spec.features[1]',
      message: /column "petal_area" is not in the built-in data set iris/,
    },
    {
      name: 'testFraction too large',
      doc: pipeline({ train: { testFraction: 0.9 } }),
      path: 'spec.train.testFraction',
      message: /<= 0.5/,
    },
    {
      name: 'zero learning rate',
      doc: pipeline({ train: { params: { learningRate: 0 } } }),
      path: 'spec.train.params.learningRate',
      message: /> 0/,
    },
    {
      name: 'unknown concurrency policy',
      doc: pipeline({ concurrencyPolicy: 'Sometimes' }),
      path: 'spec.concurrencyPolicy',
      message: /one of: Allow, Forbid, Replace/,
    },
    {
      name: 'a typo in a field',
      doc: pipeline({ shedule: '* * * * *' }),
      path: 'spec.shedule',
      message: /not a known field/,
    },
    {
      name: 'missed-run limit',
      doc: pipeline({ missedRuns: { policy: 'RunAll', limit: 0 } }),
      path: 'spec.missedRuns.limit',
      message: />= 1/,
    },
    {
      name: 'bad stage schedule',
      doc: pipeline({ stages: { train: { schedule: '0 25 * * *' } } }),
      path: 'spec.stages.train.schedule',
      message: /./,
    },
    {
      name: 'negative retries',
      doc: pipeline({ stages: { train: { retries: -1 } } }),
      path: 'spec.stages.train.retries',
      message: />= 0/,
    },
    {
      name: 'bad name',
      doc: pipeline({}, 'Iris_Prod'),
      path: 'metadata.name',
      message: /lowercase/,
    },
    {
      name: 'wrong kind',
      doc: { ...pipeline({}), kind: 'Pipeline' },
      path: 'kind',
      message: /must be MLPipeline/,
    },
  ];
  for (const c of bad) {
    it(`rejects ${c.name}, naming ${c.path}`, () => {
      const problems = checkPipelineDocument(c.doc, '.');
      const match = problems.find((p) => p.path === c.path && c.message.test(p.message));
      assert.ok(
        match,
        `expected a problem at ${c.path} matching ${String(c.message)}, got ${JSON.stringify(problems)}`,
      );
    });
  }

  it('checks a CSV source against its header', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-spec-'));
    writeFileSync(join(dir, 'data.csv'), 'x1,x2,target\n1,2,a\n');
    const ok = pipeline({
      source: { csv: { path: 'data.csv' } },
      features: ['x1', 'x2'],
      label: 'target',
    });
    assert.deepEqual(checkPipelineDocument(ok, dir), []);
    const wrong = pipeline({
      source: { csv: { path: 'data.csv' } },
      features: ['x1', 'x3'],
      label: 'y',
    });
    const problems = checkPipelineDocument(wrong, dir);
    assert.deepEqual(
      problems.map((p) => p.path),
      ['spec.features[1]', 'spec.label'],
    );
    const missing = pipeline({ source: { csv: { path: 'nope.csv' } } });
    assert.match(checkPipelineDocument(missing, dir)[0]!.message, /no such file/);
  });
});

describe('loadPipelines', () => {
  it('reports every problem of every document with file and path, and loads nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-load-'));
    const file = join(dir, 'two.yaml');
    writeFileSync(
      file,
      `apiVersion: mlpipeline.dev/v1alpha1
kind: MLPipeline
metadata: { name: good }
spec: { schedule: '* * * * *', source: { builtin: iris }, features: [sepal_length], label: species }
---
apiVersion: mlpipeline.dev/v1alpha1
kind: MLPipeline
metadata: { name: bad }
spec: { schedule: 'every minute', source: { builtin: iris }, features: [sepal_length], label: species, historyLimit: 0 }
`,
    );
    assert.throws(
      () => loadPipelines(file),
      (e: unknown) =>
        e instanceof SpecValidationError &&
        e.problems.every((p) => p.document === 2) &&
        e.problems.some((p) => p.path === 'spec.historyLimit') &&
        e.message.includes(`${file}#2: spec.schedule`),
    );
  });

  it('loads the shipped examples', () => {
    const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
    assert.deepEqual(
      loadPipelines(examples).map((p) => p.name),
      ['iris'],
    );
    assert.equal(loadPipelines(join(examples, 'mysql/iris-mysql.yaml'))[0]!.name, 'iris-mysql');
  });
});

describe('spec types', () => {
  it('are generated from the current CRD (run `npm run gen:types` after changing it)', async () => {
    const file = fileURLToPath(new URL('./types.generated.ts', import.meta.url));
    assert.equal(readFileSync(file, 'utf8'), await renderSpecTypes());
  });
});
