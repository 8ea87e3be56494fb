import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from '../../core/log.js';
import { messageOf, UserError } from '../../core/errors.js';
import { STAGES, type StageName } from '../../core/ports.js';
import { eventStream, type EventStreamOptions } from './events.js';
import { ApiError, type PipelineService } from './service.js';
import { findWebRoot, webApp } from './web.js';

export interface ApiOptions {
  service: PipelineService;
  log: Logger;
  /** Bearer token for actions (run now, suspend, resume); without one the API is read-only. */
  token?: string;
  ready?: () => Promise<void>;
  /** The built web app's folder; found beside the server when not given, none with false. */
  webRoot?: string | false;
  events?: Partial<EventStreamOptions>;
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RUN_ID = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The JSON API both modes serve, with one error type and one final handler,
 * and the web app beside it on the same origin.
 */
export function createApiApp(options: ApiOptions): express.Express {
  const { service, log } = options;
  const app = express();
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // The app's own scripts and styles only; Svelte sets some styles inline.
          'style-src': ["'self'", "'unsafe-inline'"],
          'connect-src': ["'self'"],
          // Served over plain HTTP on a laptop or behind a load balancer: no upgrade.
          'upgrade-insecure-requests': null,
        },
      },
    }),
  );
  app.use(express.json({ limit: '64kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await withTimeout(options.ready?.() ?? Promise.resolve(), READY_TIMEOUT_MS);
      res.json({ status: 'ready' });
    } catch (error) {
      res.status(503).json({ status: 'not ready', error: messageOf(error) });
    }
  });

  app.get('/api/pipelines', async (_req, res) => {
    res.json({ mode: service.mode, pipelines: await service.listPipelines() });
  });
  app.get('/api/pipelines/:name', async (req, res) => {
    res.json(await service.getPipeline(pathParam(req, 'name', NAME)));
  });
  app.get('/api/pipelines/:name/runs', async (req, res) => {
    const limit = intParam(req, 'limit', 20, 1, 500);
    res.json({ runs: await service.listRuns(pathParam(req, 'name', NAME), limit) });
  });
  app.get('/api/pipelines/:name/runs/:runId', async (req, res) => {
    res.json(await service.getRun(pathParam(req, 'name', NAME), pathParam(req, 'runId', RUN_ID)));
  });
  app.post('/api/pipelines/:name/runs', requireToken(options.token), async (req, res) => {
    res.status(201).json(await service.runNow(pathParam(req, 'name', NAME)));
  });
  app.get('/api/pipelines/:name/models', async (req, res) => {
    res.json({ models: await service.listModels(pathParam(req, 'name', NAME)) });
  });
  app.get('/api/pipelines/:name/models/:version', async (req, res) => {
    res.json(
      await service.getModel(pathParam(req, 'name', NAME), pathParam(req, 'version', VERSION)),
    );
  });
  app.get('/api/pipelines/:name/predictions', async (req, res) => {
    const name = pathParam(req, 'name', NAME);
    res.json(
      await service.queryPredictions(name, {
        runId: optionalQuery(req, 'runId', RUN_ID),
        label: optionalQuery(req, 'label', /^.{1,200}$/),
        modelVersion: optionalQuery(req, 'modelVersion', VERSION),
        limit: intParam(req, 'limit', 50, 1, 1000),
        offset: intParam(req, 'offset', 0, 0, 100_000_000),
      }),
    );
  });
  app.post('/api/pipelines/:name/predict', requireJson, async (req, res) => {
    const name = pathParam(req, 'name', NAME);
    const body = req.body as { features?: unknown; modelVersion?: unknown } | undefined;
    const version = body?.modelVersion === undefined ? undefined : checkVersion(body.modelVersion);
    res.json(await service.predict(name, featureValues(body?.features), version));
  });
  app.get('/api/connections', async (_req, res) => {
    res.json({ connections: await service.checkConnections() });
  });
  app.post('/api/pipelines/:name/suspend', requireToken(options.token), async (req, res) => {
    res.json(await service.setSuspended(pathParam(req, 'name', NAME), true));
  });
  app.post('/api/pipelines/:name/resume', requireToken(options.token), async (req, res) => {
    res.json(await service.setSuspended(pathParam(req, 'name', NAME), false));
  });
  app.get('/api/pipelines/:name/runs/:runId/stages/:stage/logs', async (req, res) => {
    const text = await service.stageLogs(
      pathParam(req, 'name', NAME),
      pathParam(req, 'runId', RUN_ID),
      stageParam(req),
    );
    res.type('text/plain').send(text);
  });
  app.get('/api/session', (req, res) => {
    res.json({ mode: service.mode, actions: Boolean(options.token) });
  });
  app.get(
    '/api/events',
    eventStream(service, log, {
      heartbeatMs: options.events?.heartbeatMs ?? 15_000,
      maxClients: options.events?.maxClients ?? 200,
    }),
  );

  app.use('/api', (req) => {
    throw new ApiError(404, `no such API route: ${req.method} ${req.path}`);
  });
  app.use(webApp(options.webRoot === false ? undefined : (options.webRoot ?? findWebRoot())));
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = statusOf(error);
    if (status >= 500) log.error({ err: messageOf(error), path: req.path }, 'request failed');
    res.status(status).json({
      error:
        status >= 500 && !(error instanceof ApiError)
          ? 'internal error: see the server log'
          : messageOf(error),
    });
  });
  return app;
}

/** A readiness probe must answer within its own timeout, even when the database hangs. */
const READY_TIMEOUT_MS = 3000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function statusOf(error: unknown): number {
  if (error instanceof ApiError) return error.status;
  if (error instanceof UserError) return 400;
  const expressStatus = (error as { status?: unknown; type?: unknown }).status;
  if (typeof expressStatus === 'number' && expressStatus >= 400 && expressStatus < 500)
    return expressStatus;
  return 500;
}

/** A body that is not JSON would read as empty: say so rather than that a field is missing. */
function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is('application/json')) {
    const sent = req.get('content-type') ?? 'none';
    throw new ApiError(
      415,
      `send the body as JSON with "Content-Type: application/json" (got ${sent})`,
    );
  }
  next();
}

function requireToken(token: string | undefined) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!token) {
      throw new ApiError(
        403,
        'actions are disabled: the server has no MLPIPELINE_API_TOKEN, so it is read-only',
      );
    }
    const header = req.get('authorization') ?? '';
    if (!/^bearer /i.test(header)) {
      throw new ApiError(
        401,
        'this action needs the API token as an "Authorization: Bearer <token>" header',
      );
    }
    if (!timingSafeEqualText(header.slice(7), token))
      throw new ApiError(403, 'the API token is not valid');
    next();
  };
}

function timingSafeEqualText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  let diff = left.length ^ right.length;
  for (let i = 0; i < Math.max(left.length, right.length); i++)
    diff |= (left[i] ?? 0) ^ (right[i] ?? 0);
  return diff === 0;
}

function pathParam(req: Request, name: string, pattern: RegExp): string {
  const value = String(req.params[name] ?? '');
  if (!pattern.test(value))
    throw new ApiError(400, `${name}: "${value.slice(0, 80)}" is not a valid ${name}`);
  return value;
}

function stageParam(req: Request): StageName {
  const value = String(req.params.stage ?? '');
  const stage = STAGES.find((s) => s === value);
  if (!stage) throw new ApiError(400, `stage: must be one of ${STAGES.join(', ')}`);
  return stage;
}

function optionalQuery(req: Request, name: string, pattern: RegExp): string | undefined {
  const value = req.query[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw new ApiError(400, `${name}: not a valid value`);
  }
  return value;
}

function intParam(req: Request, name: string, fallback: number, min: number, max: number): number {
  const value = req.query[name];
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ApiError(400, `${name}: must be a whole number from ${min} to ${max}`);
  }
  return n;
}

function checkVersion(value: unknown): string {
  if (typeof value !== 'string' || !VERSION.test(value)) {
    throw new ApiError(400, 'modelVersion: must be a model version name');
  }
  return value;
}

function featureValues(value: unknown): Record<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ApiError(
      400,
      'features: must be an object of feature name to number, e.g. {"features": {"petal_length": 1.4}}',
    );
  }
  const out: Record<string, number> = {};
  for (const [name, raw] of Object.entries(value)) {
    const n =
      typeof raw === 'number'
        ? raw
        : typeof raw === 'string' && raw.trim() !== ''
          ? Number(raw)
          : NaN;
    if (!Number.isFinite(n))
      throw new ApiError(400, `features.${name}: must be a number (got ${JSON.stringify(raw)})`);
    out[name] = n;
  }
  return out;
}
