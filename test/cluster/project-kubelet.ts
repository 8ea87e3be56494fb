import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startLocalKubelet, type LocalKubelet } from './kubelet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The local kubelet with the project's image: its `mlpipeline` entry point is
 * this checkout's CLI, through tsx given by path (a pod's working folder is
 * its own, where `tsx` resolves to nothing). Only PATH reaches the processes
 * from this one's environment.
 */
export function startProjectKubelet(opts: {
  kubeconfig: string;
  workDir: string;
  nodeName?: string;
}): Promise<LocalKubelet> {
  return startLocalKubelet({
    ...opts,
    imageCommands: {
      mlpipeline: [
        process.execPath,
        '--import',
        import.meta.resolve('tsx'),
        join(ROOT, 'cli/main.ts'),
      ],
    },
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
}
