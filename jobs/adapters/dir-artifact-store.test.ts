import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { artifactStoreSuite } from './artifact-store-suite.js';
import { DirArtifactStore } from './dir-artifact-store.js';

const root = mkdtempSync(join(tmpdir(), 'mlp-dir-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

const newStore = () => new DirArtifactStore(join(root, randomBytes(4).toString('hex')));

artifactStoreSuite('folder', { open: () => Promise.resolve(newStore()) });

describe('folder artifact store', () => {
  it('writes nothing outside its folder, whatever the key', async () => {
    const parent = join(root, 'parent');
    const store = new DirArtifactStore(join(parent, 'store'));
    await store.put('inside', 'x');
    await assert.rejects(store.put('../escaped', 'x'));
    assert.deepEqual(readdirSync(parent), ['store']);
  });

  it('a reader never sees a partly written object', async () => {
    const store = newStore();
    const a = Buffer.alloc(4 * 1024 * 1024, 'a');
    const b = Buffer.alloc(4 * 1024 * 1024, 'b');
    await store.put('model.json', a);

    let reading = true;
    let reads = 0;
    const reader = (async () => {
      while (reading) {
        const seen = await store.get('model.json');
        reads++;
        assert.ok(
          seen?.equals(a) || seen?.equals(b),
          `read ${seen?.length} bytes of mixed content`,
        );
      }
    })();
    for (let i = 0; i < 20; i++) await store.put('model.json', i % 2 ? a : b);
    reading = false;
    await reader;
    assert.ok(reads > 1, `only ${reads} reads overlapped the writes`);
  });

  it('leaves no temporary files behind, and lists none in progress', async () => {
    const store = newStore();
    await store.put('runs/r1/raw', 'x');
    assert.deepEqual(readdirSync(join(store.location, 'runs', 'r1')), ['raw']);

    writeFileSync(join(store.location, 'runs', 'r1', '.mlp-tmp-123-abc'), 'half');
    assert.deepEqual(await store.list('runs/'), ['runs/r1/raw']);
  });

  it('check() creates the folder, and fails with the reason when it cannot', async () => {
    const store = newStore();
    assert.equal(existsSync(store.location), false);
    await store.check();
    assert.equal(existsSync(store.location), true);

    const blocker = join(root, 'a-file');
    writeFileSync(blocker, '');
    await assert.rejects(
      new DirArtifactStore(join(blocker, 'store')).check(),
      /a-file\/store is not usable: .*ENOTDIR/,
    );
  });

  it('reports a read error other than a missing file', async () => {
    const store = newStore();
    await store.check();
    // A symlink to itself: a read error that is not ENOENT, even for root.
    symlinkSync('loop', join(store.location, 'loop'));
    await assert.rejects(store.get('loop'), /cannot read .*loop: .*ELOOP/);
  });
});
