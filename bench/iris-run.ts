// The whole Iris run in single-container mode (collect, clean, train,
// predict, with SQLite and a local folder), timed end to end in this process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromEnv } from '../core/config.js';
import { createLogger } from '../core/log.js';
import type { RunRecord } from '../core/ports.js';
import { loadPipelines } from '../core/spec/load.js';
import { executeRun } from '../jobs/run-executor.js';
import { createRuntime } from '../jobs/runtime.js';
import { STAGE_FUNCTIONS } from '../jobs/stages/index.js';

const RUNS = 20;

export async function benchIrisRun(): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mlp-bench-iris-'));
  const log = createLogger({ level: 'silent' });
  const [iris] = loadPipelines(fileURLToPath(new URL('../examples/iris.yaml', import.meta.url)));
  const runtime = await createRuntime(configFromEnv({ MLPIPELINE_DATA_DIR: dataDir }), log, {});
  const times: number[] = [];
  const stageTimes: Record<string, number[]> = {};
  try {
    for (let i = 0; i < RUNS; i++) {
      const runId = `iris-bench-${i}`;
      const run: RunRecord = {
        pipeline: 'iris',
        runId,
        trigger: 'manual',
        startStage: 'collect',
        phase: 'Pending',
        startedAt: new Date().toISOString(),
        stages: [],
      };
      const started = performance.now();
      await runtime.results.claimRun(run);
      const done = await executeRun({
        run,
        retries: () => 0,
        stages: STAGE_FUNCTIONS,
        contextFor: () => runtime.contextFor(iris!, runId, log),
        results: runtime.results,
        log,
      });
      times.push(performance.now() - started);
      if (done.phase !== 'Succeeded') throw new Error(`run failed: ${done.message}`);
      for (const s of done.stages)
        (stageTimes[s.stage] ??= []).push(Number(s.summary?.durationSeconds) * 1000);
    }
  } finally {
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  const cli = cliRunTimes(3);
  const sorted = [...times].sort((a, b) => a - b);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return [
    '## Whole Iris run, single-container mode (SQLite and a folder)',
    '',
    `${RUNS} runs in one process; the first includes opening the stores and warming the JIT.`,
    '',
    '| measure | ms |',
    '|---|---|',
    `| first run | ${times[0]!.toFixed(1)} |`,
    `| median run | ${median(times).toFixed(1)} |`,
    `| slowest run | ${sorted[sorted.length - 1]!.toFixed(1)} |`,
    ...Object.entries(stageTimes).map(
      ([stage, xs]) => `| median ${stage} stage | ${median(xs).toFixed(1)} |`,
    ),
    `| \`mlpipeline run -f examples/iris.yaml\` as a new process, built (median of ${cli.length}) | ${median(cli).toFixed(0)} |`,
    '',
    'Target: under 1,000 ms for a whole run.',
    '',
  ].join('\n');
}

/** Wall-clock of the whole command, Node start-up and store set-up included. */
function cliRunTimes(count: number): number[] {
  const bin = fileURLToPath(new URL('../bin/mlpipeline.js', import.meta.url));
  const file = fileURLToPath(new URL('../examples/iris.yaml', import.meta.url));
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const dataDir = mkdtempSync(join(tmpdir(), 'mlp-bench-cli-'));
    const started = performance.now();
    const result = spawnSync(process.execPath, [bin, 'run', '-f', file], {
      env: { ...process.env, MLPIPELINE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    });
    times.push(performance.now() - started);
    rmSync(dataDir, { recursive: true, force: true });
    if (result.status !== 0)
      throw new Error(`mlpipeline run failed (build first: npm run build): ${result.stderr}`);
  }
  return times;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchIrisRun());
