import { Worker } from 'node:worker_threads';
import { messageOf, RunReplacedError } from '../core/errors.js';
import type { RunRecord } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import type { RunWorkerInput, RunWorkerMessage } from './run-worker.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * The worker module sits beside this one: .js when built. When run from source
 * (tests, development), a worker thread does not inherit the TypeScript loader,
 * so it registers it before importing the .ts module.
 */
function createWorker(workerData: RunWorkerInput, env: NodeJS.ProcessEnv): Worker {
  if (!FROM_SOURCE) {
    return new Worker(new URL('./run-worker.js', import.meta.url), { workerData, env });
  }
  const module = new URL('./run-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(module)}); });`;
  return new Worker(bootstrap, { eval: true, workerData, env });
}

export interface RunInWorkerOptions {
  /** Ends the thread this long after a stop request that it has not honoured. */
  killAfterMs?: number;
  /** The worker's environment: where it finds its stores. */
  env?: NodeJS.ProcessEnv;
  /** Each save of the run's record: a stage started, ended or was retried. */
  onProgress?: (run: RunRecord) => void;
  /** Each JSON log line the run writes; without a listener they go to stdout. */
  onLogLine?: (line: string) => void;
}

/**
 * Runs one run in a worker thread and resolves with its finished record.
 * Aborting the signal asks the run to stop between stages; if it has not
 * stopped `killAfterMs` later, the thread is terminated and the run reported
 * failed, so a container's stop timeout is never outlived.
 */
export function runInWorker(
  pipeline: Pipeline,
  run: RunRecord,
  signal: AbortSignal,
  options: RunInWorkerOptions = {},
): Promise<RunRecord> {
  const killAfterMs = options.killAfterMs ?? 20_000;
  const onLogLine = options.onLogLine ?? ((line: string) => process.stdout.write(line));
  return new Promise((resolve, reject) => {
    const worker = createWorker(
      { file: pipeline.file, pipeline: pipeline.name, run },
      options.env ?? process.env,
    );
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const onAbort = () => {
      const reason: unknown = signal.reason;
      worker.postMessage({
        type: 'stop',
        reason: messageOf(reason),
        ...(reason instanceof RunReplacedError && { replacedBy: reason.byRunId }),
      });
      killTimer = setTimeout(() => void worker.terminate(), killAfterMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    worker.on('message', (message: RunWorkerMessage) => {
      if (message.type === 'log') return onLogLine(message.line);
      if (message.type === 'progress') return options.onProgress?.(message.run);
      settled = true;
      if (message.type === 'done') resolve(message.run);
      else reject(new Error(message.message));
    });
    worker.on('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.on('exit', (code) => {
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      if (!settled)
        reject(new Error(`the run's worker stopped (exit code ${code}) before the run finished`));
    });
  });
}
