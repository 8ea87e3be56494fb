import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One JSON line per event on stdout, with a fixed message and fields. Children
 * carry the pipeline, run and stage so every line of a run can be found.
 */
export function createLogger(
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      base: { service: 'mlpipeline' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // Connection strings can carry passwords; they never reach a log line.
      redact: { paths: ['url', '*.url', 'password', '*.password'], censor: '[redacted]' },
    },
    options.destination ?? process.stdout,
  );
}

/**
 * Process warnings (a library announcing its future Node requirement, say) go
 * to the JSON log like everything else, instead of free text on stderr.
 */
export function logProcessWarnings(log: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) =>
    log.warn({ warning: warning.name }, warning.message.replace(/\s+/g, ' ')),
  );
}
