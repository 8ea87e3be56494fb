/**
 * The container image, built from the Dockerfile and run with podman on this
 * machine. No registry is reachable here, so test/image/base-image.sh first
 * makes a local stand-in for the Node image the Dockerfile names (Debian
 * bookworm from debootstrap and this machine's node), in the test's own podman
 * store under ~/.cache/mlpipeline-image; the build then pulls nothing.
 *
 * Skipped, with the reason, without podman or root; MLP_IMAGE_REQUIRED=1 (as
 * in .ci/run) makes that a failure.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { eventually } from '../cluster/api-client.js';
import { baseImages } from './dockerfile.js';
import { Podman, podmanInstalled, ULIMITS } from './podman.js';

const execFileAsync = promisify(execFile);

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = 'localhost/mlpipeline-operator:test';
/** The run the Dockerfile trains the sample model in. */
const SAMPLE_RUN = 'iris-image-build';
const CONTAINER_PORT = '8080/tcp';
const BUILD_TIMEOUT_MS = 40 * 60_000;
const BASE_TIMEOUT_MS = 20 * 60_000;

const required = process.env.MLP_IMAGE_REQUIRED === '1';
const installed = await podmanInstalled();
const skip: string | false = required
  ? false
  : !installed
    ? 'podman is not installed: run test/infra/install.sh (MLP_IMAGE_REQUIRED=1 makes this a failure)'
    : process.getuid?.() !== 0
      ? 'the local base image needs root (debootstrap); run as root or set MLP_IMAGE_REQUIRED=1'
      : false;

const MB = 1_000_000;
const SETOSA = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };

describe('container image', { skip }, () => {
  const podman = new Podman();
  const started: string[] = [];
  let base = '';

  before(async () => {
    if (!installed) throw new Error('podman is not installed: run test/infra/install.sh');
    [base = ''] = baseImages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));

    await execFileAsync(
      join(ROOT, 'test', 'image', 'base-image.sh'),
      [base, podman.store.root, podman.store.runroot],
      { timeout: BASE_TIMEOUT_MS, maxBuffer: 16 * MB },
    );

    // Nothing is pulled: the base is the stand-in above. The docker format
    // keeps the HEALTHCHECK, which the OCI image format has no field for.
    const t0 = Date.now();
    await podman.run(
      ['build', '--pull=never', '--format', 'docker', ...ULIMITS, '--tag', IMAGE, ROOT],
      BUILD_TIMEOUT_MS,
    );
    console.log(`image built in ${Math.round((Date.now() - t0) / 1000)} s`);

    // Layers of builds older than a day are no longer a useful cache.
    await podman.run(['image', 'prune', '--force', '--filter', 'until=24h']);
  });

  after(async () => {
    await podman.removeContainers(started);
  });

  it('names a non-root numeric user, the mlpipeline entry point and a health check', async () => {
    const config = await imageConfig(podman, IMAGE);

    assert.equal(config.User, '1000:1000');
    assert.deepEqual(config.Entrypoint, ['mlpipeline']);
    assert.equal(config.Cmd?.[0], 'standalone');
    assert.ok(config.Healthcheck?.Test?.length, 'no HEALTHCHECK in the image');
    assert.ok(config.ExposedPorts?.[CONTAINER_PORT], `${CONTAINER_PORT} is not exposed`);
  });

  it('runs as uid 1000, with no compiler and no development dependency inside', async () => {
    const devOnly = devOnlyPackages();
    assert.ok(devOnly.length > 0, 'package-lock.json marks no package as dev-only');
    const script = [
      'id -u',
      'for tool in cc gcc g++ c++ make python3; do command -v "$tool" || true; done',
      'for dir in "$@"; do if test -e "/app/$dir"; then echo "$dir"; fi; done',
    ].join('; ');
    const { stdout } = await podman.run([
      'run',
      '--rm',
      ...ULIMITS,
      '--health-cmd=none',
      '--entrypoint',
      'sh',
      IMAGE,
      '-c',
      script,
      'sh',
      ...devOnly,
    ]);

    const [uid, ...found] = stdout.trim().split('\n');
    assert.equal(uid, '1000');
    assert.deepEqual(found, [], `found in the image: ${found.join(', ')}`);
  });

  it('picks the role from the subcommand: validate checks the baked pipelines', async () => {
    const { stdout, stderr } = await podman.run([
      'run',
      '--rm',
      ...ULIMITS,
      '--health-cmd=none',
      IMAGE,
      'validate',
      '-f',
      'pipelines/',
    ]);
    assert.match(stdout, /pipelines\/iris\.yaml: iris: valid/, stdout + stderr);
  });

  it('runs a whole run on a read-only root file system, writing only to /tmp', async () => {
    // As the Helm chart runs it: readOnlyRootFilesystem, an emptyDir on /tmp.
    const { stdout } = await podman.run([
      'run',
      '--rm',
      ...ULIMITS,
      '--health-cmd=none',
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--env',
      'MLPIPELINE_DATA_DIR=/tmp/data',
      IMAGE,
      'run',
      '-f',
      'pipelines/iris.yaml',
      '--run-id',
      'iris-read-only',
      '--json',
    ]);
    const report = JSON.parse(stdout) as { phase?: string; stages?: Record<string, unknown> };

    assert.equal(report.phase, 'Succeeded', stdout);
    assert.deepEqual(Object.keys(report.stages ?? {}), ['collect', 'clean', 'train', 'predict']);
  });

  it('ships the sample model, trained at build time, as the current model', async () => {
    const current = await shippedCurrentModel(podman);

    assert.equal(current.runId, SAMPLE_RUN);
    assert.match(current.version ?? '', /^v\d{8}-/);
  });

  it('serves health, the web app and predictions of the sample model on 127.0.0.1', async () => {
    const name = `mlp-image-test-${process.pid}`;
    await podman.run([
      'run',
      '--detach',
      '--name',
      name,
      ...ULIMITS,
      '--publish',
      `127.0.0.1::${CONTAINER_PORT}`,
      IMAGE,
    ]);
    started.push(name);

    const sampleVersion = (await shippedCurrentModel(podman)).version ?? '';
    const published = (await podman.run(['port', name, CONTAINER_PORT])).stdout.trim();
    const m = /^127\.0\.0\.1:(\d+)$/.exec(published);
    assert.ok(m, `published on ${published}, not on 127.0.0.1 only`);
    const url = `http://127.0.0.1:${m[1]}`;

    const health = await eventually('/healthz', 60_000, async () => {
      const res = await fetch(`${url}/healthz`).catch(() => undefined);
      return res?.status === 200 ? await res.json() : undefined;
    });
    assert.deepEqual(health, { status: 'ok' });
    assert.equal((await fetch(`${url}/readyz`)).status, 200);

    // The version is pinned: a scheduled run may already have promoted a newer
    // model by now, and the sample must answer either way.
    const pinned = await predict(url, SETOSA, sampleVersion);
    assert.equal(pinned.status, 200, JSON.stringify(pinned.body));
    assert.equal(pinned.body.modelVersion, sampleVersion);
    assert.equal(pinned.body.label, 'setosa');
    const total = Object.values(pinned.body.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-9, `probabilities add up to ${total}`);

    const current = await predict(url, SETOSA);
    assert.equal(current.status, 200, JSON.stringify(current.body));
    assert.equal(current.body.label, 'setosa');

    const model = (await getJson(`${url}/api/pipelines/iris/models/${sampleVersion}`)) as {
      runId?: string;
    };
    assert.equal(model.runId, SAMPLE_RUN);

    // The web app npm run build makes is in the image, and served with its assets.
    const page = await fetch(`${url}/`);
    const html = await page.text();
    assert.equal(page.status, 200, html);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
    assert.ok(script, `no script in the page: ${html}`);
    assert.equal((await fetch(new URL(script, url))).status, 200, script);

    await podman.run(['healthcheck', 'run', name]);
    const { stdout: logs } = await podman.run(['logs', name]);
    assert.match(logs, /"msg":"single-container mode started"/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const name = `mlp-image-stop-${process.pid}`;
    await podman.run(['run', '--detach', '--name', name, ...ULIMITS, '--health-cmd=none', IMAGE]);
    started.push(name);
    await eventually('the container to listen', 60_000, async () => {
      const { stdout } = await podman.run(['logs', name]);
      return stdout.includes('single-container mode started') ? true : undefined;
    });

    // Nothing is pulled: the base is the stand-in above. The docker format
    // keeps the HEALTHCHECK, which the OCI image format has no field for.
    const t0 = Date.now();
    await podman.run(['stop', '--time', '20', name]);
    const seconds = (Date.now() - t0) / 1000;
    const { stdout } = await podman.run(['inspect', '--format', '{{.State.ExitCode}}', name]);

    assert.equal(stdout.trim(), '0');
    assert.ok(seconds < 15, `took ${seconds} s to stop`);
  });

  it('reports its size', async () => {
    const size = await imageSize(podman, IMAGE);
    const baseSize = await imageSize(podman, base);
    const line =
      `${IMAGE}: ${Math.round(size / MB)} MB uncompressed; ` +
      `${Math.round((size - baseSize) / MB)} MB on top of the base image ` +
      `(here a local stand-in for ${base}: ${Math.round(baseSize / MB)} MB)`;
    console.log(line);
    mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true });
    writeFileSync(join(ROOT, 'test-artifacts', 'image-size.txt'), line + '\n');

    // The application's own share: production modules, the build and the sample model.
    assert.ok(size - baseSize < 150 * MB, `the application adds ${size - baseSize} bytes`);
  });
});

interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  ExposedPorts?: Record<string, unknown>;
  Healthcheck?: { Test?: string[] };
}

async function imageConfig(podman: Podman, image: string): Promise<ImageConfig> {
  const { stdout } = await podman.run(['image', 'inspect', image]);
  const [info] = JSON.parse(stdout) as { Config: ImageConfig; Healthcheck?: { Test?: string[] } }[];
  assert.ok(info, `no image ${image}`);
  return { ...info.Config, Healthcheck: info.Healthcheck };
}

/** The node_modules paths package-lock.json marks as needed only in development. */
function devOnlyPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path !== '' && entry.dev === true)
    .map(([path]) => path);
}

async function imageSize(podman: Podman, image: string): Promise<number> {
  const { stdout } = await podman.run(['image', 'inspect', '--format', '{{.Size}}', image]);
  return Number(stdout.trim());
}

/** models/current.json as the image ships it, before any run of the container. */
async function shippedCurrentModel(podman: Podman): Promise<{ version?: string; runId?: string }> {
  const { stdout } = await podman.run([
    'run',
    '--rm',
    ...ULIMITS,
    '--health-cmd=none',
    '--entrypoint',
    'cat',
    IMAGE,
    '/var/lib/mlpipeline/artifacts/iris/models/current.json',
  ]);
  return JSON.parse(stdout) as { version?: string; runId?: string };
}

interface Prediction {
  modelVersion: string;
  label: string;
  probabilities: Record<string, number>;
}

async function predict(
  url: string,
  features: Record<string, number>,
  modelVersion?: string,
): Promise<{ status: number; body: Prediction }> {
  const res = await fetch(`${url}/api/pipelines/iris/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ features, ...(modelVersion !== undefined && { modelVersion }) }),
  });
  return { status: res.status, body: (await res.json()) as Prediction };
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  const body = await res.json();
  assert.equal(res.status, 200, `${url}: ${JSON.stringify(body)}`);
  return body;
}
