import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { configFromEnv } from '../core/config.js';
import { UserError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { loadPipelines } from '../core/spec/load.js';
import { checkBeyondSchema } from '../core/spec/semantic.js';
import { createRuntime } from '../jobs/runtime.js';
import { assembleStandalone } from '../standalone/assemble.js';
import { createApiApp } from '../ui/server/app.js';

/**
 * Single-container mode: every pipeline under the path is scheduled, its
 * stages run in this process, and the API and web app are served on one port.
 * SIGTERM (as ECS sends it) stops scheduling, lets runs stop between stages,
 * and exits.
 */
export async function standaloneCommand(path: string): Promise<void> {
  const log = createLogger();
  const config = configFromEnv();
  // A spec that is wrong stops the start; a data file that no longer matches
  // its spec fails that pipeline's runs, said here and in each run.
  const pipelines = loadPipelines(path, { dataChecks: false });
  if (pipelines.length === 0) {
    throw new UserError(`${path}: no MLPipeline documents found; nothing to schedule`);
  }
  for (const pipeline of pipelines) {
    const problems = checkBeyondSchema(pipeline.spec, pipeline.baseDir);
    if (problems.length > 0) {
      log.warn(
        { pipeline: pipeline.name, problems: problems.map((p) => `${p.path}: ${p.message}`) },
        "the pipeline's data does not match its spec: its runs fail until it does",
      );
    }
  }
  const runtime = await createRuntime(config, log);

  const standalone = await assembleStandalone({ pipelines, runtime, log });
  const { scheduler, service } = standalone;

  const app = createApiApp({
    service,
    log,
    token: process.env.MLPIPELINE_API_TOKEN || undefined,
    ready: () => runtime.results.check(),
  });
  const server = app.listen(config.port, config.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  scheduler.start();
  log.info(
    {
      address: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}/`,
      pipelines: pipelines.map((p) => p.name),
      results: runtime.results.kind,
    },
    'single-container mode started',
  );

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'stopping');
    server.close();
    await standalone.close();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
