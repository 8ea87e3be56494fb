import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function mlpipeline(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('mlpipeline validate', () => {
  it('accepts the examples', () => {
    const result = mlpipeline(['validate', '-f', 'examples/']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /iris: valid/);
  });

  it('lists every problem with its field path and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `apiVersion: mlpipeline.dev/v1alpha1
kind: MLPipeline
metadata: { name: bad }
spec:
  schedule: '0 0 31 2 *'
  timeZone: Europe/Atlantis
  source: { builtin: iris, mysql: { table: t } }
  features: [sepal_length, sepal_width]
  label: species
  train: { testFraction: 0.7 }
`,
    );
    const result = mlpipeline(['validate', '-f', file]);
    assert.equal(result.code, 1);
    for (const path of ['spec.source', 'spec.train.testFraction']) {
      assert.match(result.stderr, new RegExp(`${file}: ${path.replace(/\./g, '\\.')}: `));
    }
    assert.match(result.stderr, /problems? found/);
  });

  it('checks cron and time zone once the schema holds', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-cli-'));
    const file = join(dir, 'cron.yaml');
    writeFileSync(
      file,
      `apiVersion: mlpipeline.dev/v1alpha1
kind: MLPipeline
metadata: { name: cron }
spec:
  schedule: '0 0 31 2 *'
  timeZone: Europe/Atlantis
  source: { builtin: iris }
  features: [sepal_length]
  label: species
`,
    );
    const result = mlpipeline(['validate', '-f', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /spec\.schedule: /);
    assert.match(result.stderr, /spec\.timeZone: .*Europe\/Atlantis/);
  });
});

describe('mlpipeline run', () => {
  it('prints a human summary and exits 0', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-cli-run-'));
    const result = mlpipeline(['run', '-f', 'examples/iris.yaml'], { MLPIPELINE_DATA_DIR: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^run iris-manual-\d{14}-[a-z0-9]{4}: Succeeded/);
    assert.match(result.stdout, /train +Succeeded .*promoted/);
    assert.match(result.stdout, /predict +Succeeded .*150 predictions written to predictions/);
  });

  it('exits 1 and says which stage failed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-cli-fail-'));
    writeFileSync(
      join(dir, 'one-class.csv'),
      'x,y\n1,a\n2,a\n3,a\n4,a\n5,a\n6,a\n7,a\n8,a\n9,a\n10,a\n11,a\n',
    );
    writeFileSync(
      join(dir, 'p.yaml'),
      `apiVersion: mlpipeline.dev/v1alpha1
kind: MLPipeline
metadata: { name: oneclass }
spec:
  schedule: '* * * * *'
  source: { csv: { path: one-class.csv } }
  features: [x]
  label: y
`,
    );
    const result = mlpipeline(['run', '-f', join(dir, 'p.yaml'), '--json'], {
      MLPIPELINE_DATA_DIR: join(dir, 'data'),
    });
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout) as {
      phase: string;
      stages: Record<string, { status: string; message?: string }>;
    };
    assert.equal(report.phase, 'Failed');
    assert.equal(report.stages.clean!.status, 'Failed');
    assert.match(report.stages.clean!.message!, /at least two classes/);
    assert.equal(report.stages.train!.status, 'Skipped');
    assert.equal(report.stages.predict!.status, 'Skipped');
  });
});

describe('mlpipeline stage', () => {
  it('runs the four stages of one run as separate processes, as Job pods do', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-cli-stage-'));
    const env = {
      MLPIPELINE_DATA_DIR: dir,
      MLP_PIPELINE_FILE: 'examples/iris.yaml',
      MLP_RUN_ID: 'iris-202612041530',
    };
    for (const stage of ['collect', 'clean', 'train', 'predict']) {
      const result = mlpipeline(['stage', stage], env);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      const last = JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      assert.equal(last.msg, 'stage succeeded');
      assert.equal(last.pipeline, 'iris');
      assert.equal(last.run, 'iris-202612041530');
      assert.equal(last.stage, stage);
    }
  });

  it('fails a stage whose input the previous stage did not produce', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-cli-stage-'));
    const result = mlpipeline(
      ['stage', 'train', '-f', 'examples/iris.yaml', '--run-id', 'iris-202612041532'],
      {
        MLPIPELINE_DATA_DIR: dir,
      },
    );
    assert.equal(result.code, 1);
    assert.match(result.stdout, /the clean stage has not succeeded for this run/);
  });

  it('refuses an unknown stage', () => {
    const result = mlpipeline(['stage', 'deploy', '-f', 'examples/iris.yaml', '--run-id', 'x']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /must be one of collect, clean, train, predict/);
  });
});
