import type { Request, Response } from 'express';
import type { Logger } from '../../core/log.js';
import { ApiError, type PipelineService } from './service.js';

export interface EventStreamOptions {
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
  /** Streams beyond this are refused, so browsers cannot exhaust the server. */
  maxClients: number;
}

/**
 * Server-sent events: one `change` event per hint from the backend, so open
 * pages re-read what they show. Each stream unsubscribes when its client goes.
 */
export function eventStream(service: PipelineService, log: Logger, options: EventStreamOptions) {
  let clients = 0;
  return (req: Request, res: Response): void => {
    if (clients >= options.maxClients) {
      throw new ApiError(503, `too many open event streams (${options.maxClients}); try later`);
    }
    clients++;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 3000\n: connected (${service.mode})\n\n`);

    const unsubscribe = service.subscribe((change) => {
      res.write(`event: change\ndata: ${JSON.stringify(change)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), options.heartbeatMs);
    heartbeat.unref();
    log.debug({ clients }, 'event stream opened');

    req.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
      clients--;
      log.debug({ clients }, 'event stream closed');
    });
  };
}
