/**
 * The cluster suites on a cluster they did not start, as they run on kind
 * with MLP_TEST_KUBECONFIG: here the "existing cluster" is a control plane
 * and local kubelet this file starts, and the suites run in a child process
 * that only gets its kubeconfig. A suite that assumed it owns the cluster
 * (a fresh CRD, its own namespaces, pod logs in local files) fails here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { clusterSkip } from './api-client.js';
import { externalKubeconfig, startControlPlane, type ControlPlane } from './control-plane.js';
import type { LocalKubelet } from './kubelet.js';
import { startProjectKubelet } from './project-kubelet.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, '.test-infra', 'external');

/** Suites run against the existing cluster, each with the tests of it that run (a pattern). */
const RUNS: { file: string; pattern?: string }[] = [
  { file: 'test/cluster/control-plane.test.ts' },
  // One whole run through stage pods, with two controller replicas.
  { file: 'test/cluster/operations.test.ts', pattern: 'two replicas' },
];

describe(
  'the cluster suites on an existing cluster (MLP_TEST_KUBECONFIG)',
  // Already on an external cluster: the suites run there directly.
  {
    skip: clusterSkip || (externalKubeconfig() !== undefined && 'already external'),
    timeout: 900_000,
  },
  () => {
    let cp: ControlPlane | undefined;
    let kubelet: LocalKubelet | undefined;

    before(async () => {
      await mkdir(DIR, { recursive: true });
      cp = await startControlPlane({ dir: join(DIR, 'control-plane') });
      kubelet = await startProjectKubelet({
        kubeconfig: cp.kubeconfig,
        workDir: join(DIR, 'kubelet'),
      });
    });

    after(async () => {
      await kubelet?.stop();
      await cp?.stop();
    });

    it('pass there, twice in a row, skipping nothing', async () => {
      // The second round meets what the first left: the CRD, and namespaces it deleted.
      for (const round of [1, 2]) {
        for (const run of RUNS) {
          const { code, output } = await runSuite(cp!.kubeconfig, run.file, run.pattern);
          const where = `round ${round}, ${run.file}`;
          const count = (name: string) =>
            Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1]);
          assert.equal(code, 0, `${where} failed:\n${output.slice(-4000)}`);
          assert.equal(count('fail'), 0, where);
          assert.ok(count('pass') > 0, `${where}: nothing ran:\n${output.slice(-2000)}`);
          const skips = output.split('\n').filter((line) => line.includes('# SKIP'));
          assert.deepEqual(
            skips.filter((line) => !line.includes('test name does not match pattern')),
            [],
            `${where}: skipped for another reason than the pattern`,
          );
        }
      }
    });
  },
);

function runSuite(
  kubeconfig: string,
  file: string,
  pattern: string | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        '--test-reporter=tap',
        ...(pattern === undefined ? [] : [`--test-name-pattern=${pattern}`]),
        file,
      ],
      {
        cwd: ROOT,
        env: {
          // Without the runner's own marker, the child reports as a top-level run.
          ...Object.fromEntries(
            Object.entries(process.env).filter(([name]) => name !== 'NODE_TEST_CONTEXT'),
          ),
          MLP_TEST_KUBECONFIG: kubeconfig,
          MLP_TEST_STAGE_IMAGE: 'mlpipeline',
          // A suite that attaches needs no cluster binaries.
          MLP_CLUSTER_BIN_DIR: join(DIR, 'no-binaries'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}
