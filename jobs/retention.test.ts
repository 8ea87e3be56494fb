import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DirArtifactStore } from './adapters/dir-artifact-store.js';
import { pruneRunArtifacts } from './retention.js';

describe('pruneRunArtifacts', () => {
  it('removes the artifacts of runs not kept, and never a model version', async () => {
    const store = new DirArtifactStore(mkdtempSync(join(tmpdir(), 'mlp-retention-')));
    for (const run of ['p-1', 'p-2', 'p-3']) {
      await store.put(`runs/${run}/raw.jsonl`, 'rows');
      await store.put(`runs/${run}/clean.json`, '{}');
    }
    await store.put('models/v1/model.json', '{}');
    await store.put('models/current.json', '{}');

    const removed = await pruneRunArtifacts(store, new Set(['p-3']));

    assert.deepEqual(removed.sort(), ['p-1', 'p-2']);
    assert.deepEqual(await store.list('runs/'), ['runs/p-3/clean.json', 'runs/p-3/raw.jsonl']);
    assert.deepEqual(await store.list('models/'), ['models/current.json', 'models/v1/model.json']);
  });
});
