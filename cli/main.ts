import { Command, InvalidArgumentError } from 'commander';
import { messageOf } from '../core/errors.js';
import { createLogger, logProcessWarnings } from '../core/log.js';
import { STAGES, type StageName } from '../core/ports.js';

/**
 * One entry point for every role: the subcommand picks what this process is
 * (a Job pod's stage, the single-container scheduler, a one-off run, ...).
 */
logProcessWarnings(createLogger({ destination: process.stderr }));

const RUN_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

// Each role loads its own modules when chosen: a stage pod need not load the
// Kubernetes client, nor the controller the model code.
const program = new Command('mlpipeline')
  .description('Scheduled machine-learning pipelines: collect, clean, train, predict')
  .showHelpAfterError();

program
  .command('validate')
  .description(
    'check pipeline files the way the API server would, and more (cron, time zone, CSV columns)',
  )
  .requiredOption('-f, --file <path>', 'a pipeline file or a folder of them')
  .action(async (opts: { file: string }) => {
    process.exitCode = (await import('./validate.js')).validateCommand(opts.file);
  });

program
  .command('run')
  .description('run one whole run now, in this process, and report it')
  .requiredOption('-f, --file <path>', 'the pipeline file')
  .option('-p, --pipeline <name>', 'which pipeline, when the file holds several')
  .option('--run-id <id>', "the run id (a rerun replaces that run's predictions)", parseRunId)
  .option('--stage <stage>', 'start at this stage instead of collect', parseStage)
  .option('--json', 'print one JSON object instead of a summary')
  .action(
    async (opts: {
      file: string;
      pipeline?: string;
      runId?: string;
      stage?: StageName;
      json?: boolean;
    }) => {
      process.exitCode = await (await import('./run.js')).runCommand(opts);
    },
  );

program
  .command('stage')
  .description('run one stage of one run (what a Job pod executes)')
  .argument('<stage>', STAGES.join(' | '), parseStage)
  .option('-f, --file <path>', 'the pipeline file (default: $MLP_PIPELINE_FILE)')
  .option('-p, --pipeline <name>', 'which pipeline in the file (default: $MLP_PIPELINE)')
  .option('--run-id <id>', 'the run id (default: $MLP_RUN_ID)', parseRunId)
  .action(async (stage: StageName, opts: { file?: string; pipeline?: string; runId?: string }) => {
    process.exitCode = await (await import('./stage.js')).stageCommand(stage, opts);
  });

program
  .command('standalone')
  .description(
    'single-container mode: schedule every pipeline, run stages in-process, serve the API',
  )
  .requiredOption('-f, --file <path>', 'a pipeline file or a folder of them')
  .action(async (opts: { file: string }) => {
    await (await import('./standalone.js')).standaloneCommand(opts.file);
  });

program
  .command('controller')
  .description(
    'the Kubernetes operator: watch MLPipelines, own their CronJobs and Jobs, write their status',
  )
  .option('-n, --namespace <ns>', 'watch one namespace (default: all)')
  .option('--metrics-port <port>', 'port of /healthz, /readyz and /metrics', parsePort, 8080)
  .option('--metrics-address <host>', 'address the health and metrics server binds', '0.0.0.0')
  .option('--leader-elect', 'run as one of several replicas: only the Lease holder acts')
  .option('--workers <n>', 'pipelines reconciled at the same time', positiveInt, 4)
  .option(
    '--resync-seconds <s>',
    'reconcile every pipeline this often even when nothing changed',
    positiveInt,
    300,
  )
  .action(async (opts: ControllerFlags) => {
    await (
      await import('./controller.js')
    ).controllerCommand({
      metricsPort: opts.metricsPort,
      metricsAddress: opts.metricsAddress,
      leaderElect: opts.leaderElect === true,
      workers: opts.workers,
      resyncMs: opts.resyncSeconds * 1000,
      ...(opts.namespace !== undefined && { namespace: opts.namespace }),
    });
  });

interface ControllerFlags {
  namespace?: string;
  metricsPort: number;
  metricsAddress: string;
  leaderElect?: boolean;
  workers: number;
  resyncSeconds: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 100_000) {
    throw new InvalidArgumentError('must be a whole number from 1 to 100000');
  }
  return n;
}

program
  .command('ui')
  .description('the HTTP API and web app over the MLPipelines of one namespace of a cluster')
  .option('-n, --namespace <ns>', "the namespace (default: $POD_NAMESPACE, else the kubeconfig's)")
  .action(async (opts: { namespace?: string }) => {
    await (await import('./ui.js')).uiCommand(opts);
  });

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError('must be a whole number from 0 to 65535');
  }
  return port;
}

function parseRunId(value: string): string {
  if (!RUN_ID.test(value)) {
    throw new InvalidArgumentError(
      'must be lowercase letters, digits and -, at most 63, starting and ending with a letter or digit',
    );
  }
  return value;
}

function parseStage(value: string): StageName {
  if (!(STAGES as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`must be one of ${STAGES.join(', ')}`);
  }
  return value as StageName;
}

// A problem the user can fix is one line on stderr and exit 1, never a stack.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  console.error(`mlpipeline: ${messageOf(error)}`);
  process.exitCode = 1;
}
