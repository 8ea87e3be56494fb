import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import mysql from 'mysql2/promise';
import { testMysqlUrl, testS3 } from '../infra/env.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

/** The CLI as a user runs it, with the deployment's settings in the environment. */
async function cli(args: string[], env: Record<string, string>) {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the MySQL pipeline against MariaDB and an S3 server', () => {
  const bucket = `models-${Date.now().toString(36)}`;
  let db: mysql.Connection;
  let env: Record<string, string>;
  let s3: S3Client;

  before(async () => {
    db = await mysql.createConnection({ uri: testMysqlUrl(), multipleStatements: true });
    await db.query(readFileSync(join(root, 'examples/mysql/seed.sql'), 'utf8'));
    const t = testS3();
    s3 = new S3Client({
      endpoint: t.endpoint,
      region: t.region,
      forcePathStyle: true,
      credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    env = {
      RDS_URL: testMysqlUrl(),
      MYSQL_URL: testMysqlUrl(),
      S3_BUCKET: bucket,
      S3_ENDPOINT: t.endpoint,
      S3_REGION: t.region,
      AWS_ACCESS_KEY_ID: t.accessKeyId,
      AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
      MLPIPELINE_DATA_DIR: mkdtempSync(join(tmpdir(), 'mlp-mysql-')),
    };
  });

  after(async () => {
    await db.end();
    s3.destroy();
  });

  it('runs end to end: model versions in S3, 150 predictions in MariaDB keyed by id; a rerun adds none', async () => {
    const first = await cli(['run', '-f', 'examples/mysql/iris-mysql.yaml', '--json'], env);
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout) as {
      runId: string;
      phase: string;
      stages: Record<string, Record<string, unknown>>;
    };
    assert.equal(report.phase, 'Succeeded');
    assert.equal(report.stages.collect!.rowsRead, 150);
    assert.equal(report.stages.train!.promoted, true);
    assert.ok((report.stages.train!.metrics as { accuracy: number }).accuracy >= 0.9);
    assert.equal(report.stages.predict!.rowsWritten, 150);
    for (const stage of ['collect', 'clean', 'train', 'predict']) {
      assert.equal(typeof report.stages[stage]!.durationSeconds, 'number');
    }

    const [rows] = await db.query<mysql.RowDataPacket[]>(
      'SELECT row_key, model_version FROM predictions WHERE pipeline = ? AND run_id = ? ORDER BY CAST(row_key AS UNSIGNED)',
      ['iris-mysql', report.runId],
    );
    assert.equal(rows.length, 150);
    assert.equal(rows[0]!.row_key, '1');
    assert.equal(rows[149]!.row_key, '150');
    assert.equal(rows[0]!.model_version, report.stages.train!.modelVersion);

    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'iris-mysql/models/' }),
    );
    const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
    assert.deepEqual(keys, [
      'iris-mysql/models/current.json',
      `iris-mysql/models/${String(report.stages.train!.modelVersion)}/model.json`,
    ]);

    const again = await cli(
      ['run', '-f', 'examples/mysql/iris-mysql.yaml', '--run-id', report.runId, '--json'],
      env,
    );
    assert.equal(again.code, 0, again.stderr);
    const [count] = await db.query<mysql.RowDataPacket[]>(
      'SELECT COUNT(*) AS n FROM predictions WHERE pipeline = ? AND run_id = ?',
      ['iris-mysql', report.runId],
    );
    assert.equal(Number(count[0]!.n), 150);
  });

  it('names the missing connection when the secret is not configured', async () => {
    const withoutSecret = { ...env, RDS_URL: '' };
    const result = await cli(['run', '-f', 'examples/mysql/iris-mysql.yaml', '--json'], {
      ...withoutSecret,
      RDS_URL: '',
    });
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout) as { phase: string; message: string };
    assert.equal(report.phase, 'Failed');
    assert.match(report.message, /connection secret "rds" is not available: set RDS_URL/);
  });

  it('reads a CSV source from an s3:// object and keeps models under the prefix the spec names', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'data/iris.csv',
        Body: readFileSync(join(root, 'examples/data/iris.csv')),
      }),
    );
    const dir = mkdtempSync(join(tmpdir(), 'mlp-s3csv-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(
      file,
      `apiVersion: mlpipeline.dev/v1alpha1
kind: MLPipeline
metadata: { name: from-s3 }
spec:
  schedule: '0 * * * *'
  source: { csv: { path: 's3://${bucket}/data/iris.csv' } }
  features: [sepal_length, sepal_width, petal_length, petal_width]
  label: species
  modelStore: { s3: { bucket: ${bucket}, prefix: teams/flowers/, endpoint: '${env.S3_ENDPOINT}' } }
`,
    );
    const result = await cli(['run', '-f', file, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { stages: Record<string, Record<string, unknown>> };
    assert.equal(report.stages.collect!.rowsRead, 150);
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: 'teams/flowers/models/' }),
    );
    assert.ok((listed.Contents ?? []).some((o) => o.Key === 'teams/flowers/models/current.json'));
  });
});
