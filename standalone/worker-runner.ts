import { Worker } from 'node:worker_threads';
import type { RunRecord } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import type { RunWorkerInput, RunWorkerMessage } from './run-worker.js';

const FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * The worker module sits beside this one: .js when built. When run from source
 * (tests, development), a worker thread does not inherit the TypeScript loader,
 * so it registers it before importing the .ts module.
 */
function createWorker(workerData: RunWorkerInput): Worker {
  if (!FROM_SOURCE) return new Worker(new URL('./run-worker.js', import.meta.url), { workerData });
  const module = new URL('./run-worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(module)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
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
  killAfterMs = 20_000,
): Promise<RunRecord> {
  return new Promise((resolve, reject) => {
    const worker = createWorker({ file: pipeline.file, pipeline: pipeline.name, run });
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const onAbort = () => {
      worker.postMessage({
        type: 'stop',
        reason: String((signal.reason as Error)?.message ?? signal.reason),
      });
      killTimer = setTimeout(() => void worker.terminate(), killAfterMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });

    worker.on('message', (message: RunWorkerMessage) => {
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
