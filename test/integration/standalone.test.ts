import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { writePipelineFile } from '../fixtures/pipeline-file.js';
import { testMysqlUrl } from '../infra/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

interface Standalone {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  address: Promise<string>;
}

/** `mlpipeline standalone` as a separate process, its JSON log lines collected. */
function startStandalone(file: string, env: Record<string, string>): Standalone {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'cli/main.ts', 'standalone', '-f', file],
    {
      cwd: root,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines: Record<string, unknown>[] = [];
  const address = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`standalone exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      lines.push(entry);
      if (entry.msg === 'single-container mode started') resolve(String(entry.address));
    });
  });
  return { child, lines, address };
}

async function stop(s: Standalone): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function everyMinute(dir: string, name: string): string {
  const spec = `  schedule: '* * * * *'
  startingDeadlineSeconds: 60
  train: { params: { numSteps: 100 }, promotion: { minimum: 0.9 } }`;
  return writePipelineFile(name, spec, dir);
}

const started: Standalone[] = [];
after(async () => {
  await Promise.all(started.map(stop));
});

describe('mlpipeline standalone', () => {
  it('with embedded storage, runs the due slot and serves the run, model and predictions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-standalone-'));
    const s = startStandalone(everyMinute(dir, 'iris'), { MLPIPELINE_DATA_DIR: join(dir, 'data') });
    started.push(s);
    const base = await s.address;
    assert.equal((await fetch(`${base}healthz`)).status, 200);
    assert.equal((await fetch(`${base}readyz`)).status, 200);

    const run = await until('a finished run', async () => {
      const body = (await (await fetch(`${base}api/pipelines/iris/runs`)).json()) as {
        runs: { phase: string; runId: string }[];
      };
      return body.runs.find((r) => r.phase === 'Succeeded' || r.phase === 'Failed');
    });
    assert.equal(run.phase, 'Succeeded');
    assert.match(run.runId, /^iris-\d{12}$/);

    const { pipelines } = (await (await fetch(`${base}api/pipelines`)).json()) as {
      pipelines: { currentModel: { accuracy: number }; nextRunAt: string }[];
    };
    assert.ok(pipelines[0]!.currentModel.accuracy >= 0.9);
    assert.ok(new Date(pipelines[0]!.nextRunAt) > new Date());
    const predictions = (await (
      await fetch(`${base}api/pipelines/iris/predictions?limit=1`)
    ).json()) as { total: number };
    assert.equal(predictions.total, 150);

    const logged = s.lines.filter((l) => l.run === run.runId);
    assert.ok(logged.length > 0 && logged.every((l) => l.pipeline === 'iris'));
    assert.ok(logged.some((l) => l.stage === 'train'));
  });

  it('two processes on one MariaDB run a slot once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-two-'));
    const name = `twin-${Date.now().toString(36)}`;
    const file = everyMinute(dir, name);
    const env = { MYSQL_URL: testMysqlUrl(), MLPIPELINE_DATA_DIR: join(dir, 'data') };
    const pair = [startStandalone(file, env), startStandalone(file, env)];
    started.push(...pair);
    await Promise.all(pair.map((s) => s.address));

    const db = await mysql.createConnection(testMysqlUrl());
    try {
      const finished = await until('the slot to finish', async () => {
        const [rows] = await db.query<mysql.RowDataPacket[]>(
          "SELECT run_id FROM mlpipeline_runs WHERE pipeline = ? AND phase IN ('Succeeded', 'Failed')",
          [name],
        );
        return rows.length > 0 ? rows : undefined;
      });
      // Give the slower process time to try the same slot.
      await new Promise((r) => setTimeout(r, 1500));
      const [runs] = await db.query<mysql.RowDataPacket[]>(
        'SELECT run_id, phase FROM mlpipeline_runs WHERE pipeline = ? AND run_id = ?',
        [name, finished[0]!.run_id],
      );
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.phase, 'Succeeded');
      const starts = pair
        .flatMap((s) => s.lines)
        .filter((l) => l.msg === 'run started' && l.run === finished[0]!.run_id);
      assert.equal(starts.length, 1, 'exactly one process started the run');
    } finally {
      await db.end();
    }
  });

  it('a pipeline whose CSV no longer matches its spec is reported, and the others are served', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlp-changed-'));
    writeFileSync(join(dir, 'small.csv'), 'x,z\n1,a\n2,b\n');
    writePipelineFile(
      'small',
      "  schedule: '0 0 1 1 *'\n  source: { csv: { path: small.csv } }\n  features: [a]\n  label: b",
      dir,
    );
    writePipelineFile('iris', "  schedule: '0 0 1 1 *'", dir);
    const s = startStandalone(dir, { MLPIPELINE_DATA_DIR: join(dir, 'data') });
    started.push(s);
    const base = await s.address;
    const { pipelines } = (await (await fetch(`${base}api/pipelines`)).json()) as {
      pipelines: { name: string }[];
    };
    assert.deepEqual(pipelines.map((p) => p.name).sort(), ['iris', 'small']);
    const warning = s.lines.find((l) => l.pipeline === 'small' && l.level === 'warn');
    assert.ok(warning, 'a warning names the pipeline');
    assert.match(
      JSON.stringify(warning.problems),
      /spec.features\[0\]: column \\"a\\" is not in the header/,
    );
  });
});
