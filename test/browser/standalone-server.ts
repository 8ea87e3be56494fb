import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface StandaloneServer {
  address: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `mlpipeline standalone` on 127.0.0.1 and a free port, with its own data
 * folder; resolves once it prints the address it serves.
 */
export async function startStandaloneServer(options: {
  pipelineFile: string;
  token?: string;
  webRoot?: string;
  env?: Record<string, string>;
}): Promise<StandaloneServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mlp-browser-data-'));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'cli/main.ts', 'standalone', '-f', options.pipelineFile],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        MLPIPELINE_DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
        ...(options.token ? { MLPIPELINE_API_TOKEN: options.token } : {}),
        ...(options.webRoot ? { MLPIPELINE_WEB_ROOT: options.webRoot } : {}),
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const address = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`standalone exited with ${code} before serving`)),
    );
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const entry = JSON.parse(line) as { msg?: string; address?: string };
      if (entry.msg === 'single-container mode started') resolve(String(entry.address));
    });
  });
  return {
    address,
    dataDir,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
