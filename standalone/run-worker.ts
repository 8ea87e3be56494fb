import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { configFromEnv } from '../core/config.js';
import { messageOf, RunReplacedError } from '../core/errors.js';
import { createLogger, logProcessWarnings } from '../core/log.js';
import type { RunRecord } from '../core/ports.js';
import { loadPipelines } from '../core/spec/load.js';
import { executeRun } from '../jobs/run-executor.js';
import { createRuntime } from '../jobs/runtime.js';
import { reportingSaves } from './reporting-saves.js';
import { STAGE_FUNCTIONS } from '../jobs/stages/index.js';

/**
 * One run in a worker thread. Stages do long stretches of synchronous work
 * (parsing a million rows, fitting, scoring); off the main thread, the API and
 * its health checks keep answering while they do. The worker opens its own
 * stores, reads the same pipeline file, and reports the finished record.
 */
export interface RunWorkerInput {
  file: string;
  pipeline: string;
  run: RunRecord;
}

export type RunWorkerMessage =
  | { type: 'done'; run: RunRecord }
  | { type: 'error'; message: string }
  /** The run's record as just saved: a stage started, ended or was retried. */
  | { type: 'progress'; run: RunRecord }
  /** One JSON log line; the main thread prints it and keeps it as the stage's log. */
  | { type: 'log'; line: string };

const input = workerData as RunWorkerInput;
const port = parentPort!;
const controller = new AbortController();
port.on('message', (message: { type: string; reason?: string; replacedBy?: string }) => {
  if (message.type !== 'stop') return;
  controller.abort(
    message.replacedBy !== undefined
      ? new RunReplacedError(message.replacedBy)
      : new Error(message.reason ?? 'stopped'),
  );
});

const toMainThread = new Writable({
  decodeStrings: false,
  write(line: string | Buffer, _encoding, done) {
    port.postMessage({ type: 'log', line: String(line) } satisfies RunWorkerMessage);
    done();
  },
});
const log = createLogger({ destination: toMainThread }).child({
  pipeline: input.pipeline,
  run: input.run.runId,
});
logProcessWarnings(log);
try {
  const pipeline = loadPipelines(input.file).find((p) => p.name === input.pipeline);
  if (!pipeline) throw new Error(`${input.file} no longer defines pipeline ${input.pipeline}`);
  const runtime = await createRuntime(configFromEnv(), log);
  try {
    const run = await executeRun({
      run: input.run,
      signal: controller.signal,
      retries: (stage) => pipeline.spec.stages?.[stage]?.retries ?? 0,
      stages: STAGE_FUNCTIONS,
      contextFor: (stage) => runtime.contextFor(pipeline, input.run.runId, log.child({ stage })),
      results: reportingSaves(runtime.results, (saved) =>
        port.postMessage({ type: 'progress', run: saved } satisfies RunWorkerMessage),
      ),
      log,
    });
    port.postMessage({ type: 'done', run } satisfies RunWorkerMessage);
  } finally {
    await runtime.close();
  }
} catch (error) {
  port.postMessage({ type: 'error', message: messageOf(error) } satisfies RunWorkerMessage);
}
// The stop listener must not keep a finished worker alive: the thread ends once
// its last message is out.
port.unref();
