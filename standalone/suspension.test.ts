import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../core/log.js';
import { loadPipelines } from '../core/spec/load.js';
import { DirArtifactStore } from '../jobs/adapters/dir-artifact-store.js';
import { writePipelineFile } from '../test/fixtures/pipeline-file.js';
import { effectiveSuspend, SUSPEND_KEY, SuspendSwitch } from './suspension.js';

const quiet = createLogger({ level: 'silent' });

describe('effectiveSuspend', () => {
  const cases: {
    name: string;
    file: boolean;
    override?: { suspended: boolean; fileSaid: boolean };
    want: boolean;
  }[] = [
    { name: 'the file alone', file: true, want: true },
    {
      name: 'suspended from the API',
      file: false,
      override: { suspended: true, fileSaid: false },
      want: true,
    },
    {
      name: 'resumed from the API',
      file: true,
      override: { suspended: false, fileSaid: true },
      want: false,
    },
    {
      name: 'the file changed since',
      file: false,
      override: { suspended: true, fileSaid: true },
      want: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const override = c.override && { ...c.override, at: '2026-12-04T15:30:00Z' };
      assert.equal(effectiveSuspend(c.file, override), c.want);
    });
  }
});

describe('SuspendSwitch', () => {
  it('keeps the state in the model store, for the next process to read', async () => {
    const [pipeline] = loadPipelines(writePipelineFile('keep'));
    const store = new DirArtifactStore(mkdtempSync(join(tmpdir(), 'mlp-suspend-')));
    const first = await SuspendSwitch.load([pipeline!], () => store, quiet);
    assert.equal(first.isSuspended(pipeline!), false);
    await first.set(pipeline!, true);
    assert.equal(first.isSuspended(pipeline!), true);

    const next = await SuspendSwitch.load([pipeline!], () => store, quiet);
    assert.equal(next.isSuspended(pipeline!), true);
  });

  it('falls back to the file when the stored state cannot be read', async () => {
    const [pipeline] = loadPipelines(writePipelineFile('torn'));
    const store = new DirArtifactStore(mkdtempSync(join(tmpdir(), 'mlp-suspend-')));
    await store.put(SUSPEND_KEY, '{"suspended": "yes"}');
    const sw = await SuspendSwitch.load([pipeline!], () => store, quiet);
    assert.equal(sw.isSuspended(pipeline!), false);
  });
});
