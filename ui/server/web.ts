import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, type Router } from 'express';

/**
 * Where the built web app is: MLPIPELINE_WEB_ROOT when set, else where
 * `npm run build` puts it, dist/web (built, this module is
 * dist/ui/server/web.js; from source it is ui/server/web.ts).
 */
export function findWebRoot(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.MLPIPELINE_WEB_ROOT) return env.MLPIPELINE_WEB_ROOT;
  const candidates = [
    fileURLToPath(new URL('../../web/', import.meta.url)),
    fileURLToPath(new URL('../../dist/web/', import.meta.url)),
  ];
  return candidates.find((dir) => existsSync(join(dir, 'index.html')));
}

/**
 * The built app: hashed assets cached for a year, index.html never cached,
 * and every other page path answered with index.html so deep links load.
 */
export function webApp(root: string | undefined): Router {
  const router = express.Router();
  if (!root) {
    router.get('/', (_req, res) => {
      res
        .status(404)
        .type('text/plain')
        .send('The web app is not built: run `npm run build`. The API is under /api/.\n');
    });
    return router;
  }
  router.use(
    '/assets',
    express.static(join(root, 'assets'), { immutable: true, maxAge: '365d', fallthrough: false }),
  );
  router.use(express.static(root, { index: false, maxAge: 0 }));
  const sendIndex = (_req: Request, res: Response) => {
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(join(root, 'index.html'));
  };
  router.get('/{*page}', sendIndex);
  return router;
}
