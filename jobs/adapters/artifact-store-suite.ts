/**
 * The behaviour every ArtifactStore must have, run against S3 and a local
 * folder by their test files.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ArtifactStore } from '../../core/ports.js';

export interface ArtifactStoreSuiteOptions {
  /** A store over a new, empty place each call (a fresh prefix or folder). */
  open(): Promise<ArtifactStore>;
  /** A reason to skip the listing of more than one page, when the server cannot. */
  skipPagination?: string;
}

export function artifactStoreSuite(name: string, options: ArtifactStoreSuiteOptions): void {
  describe(`${name} artifact store`, () => {
    it('returns exactly the bytes written: text, every byte value, and several megabytes', async () => {
      const store = await options.open();
      const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const large = randomBytes(6 * 1024 * 1024 + 7);
      const text = '{"model":"é漢🌸","crlf":"\r\n"}';

      await store.put('models/v1/model.json', text);
      await store.put('runs/r1/bytes', everyByte);
      await store.put('runs/r1/raw', large);

      assert.equal((await store.get('models/v1/model.json'))?.toString('utf8'), text);
      assert.deepEqual(await store.get('runs/r1/bytes'), everyByte);
      const back = await store.get('runs/r1/raw');
      assert.equal(back?.length, large.length);
      assert.ok(back?.equals(large), 'large object differs');
    });

    it('stores an empty object as empty, not as missing', async () => {
      const store = await options.open();
      await store.put('empty', Buffer.alloc(0));
      assert.deepEqual(await store.get('empty'), Buffer.alloc(0));
    });

    it('returns undefined for a key never written, and for a folder-like prefix', async () => {
      const store = await options.open();
      await store.put('runs/r1/raw', 'x');
      assert.equal(await store.get('runs/r2/raw'), undefined);
      assert.equal(await store.get('runs'), undefined);
    });

    it('deletes an object, and deleting a missing one is no error', async () => {
      const store = await options.open();
      await store.put('runs/old/raw.jsonl', 'x');
      await store.put('runs/old/clean.bin', 'y');
      await store.delete('runs/old/raw.jsonl');
      await store.delete('runs/old/raw.jsonl');
      assert.equal(await store.get('runs/old/raw.jsonl'), undefined);
      assert.deepEqual(await store.list('runs/old/'), ['runs/old/clean.bin']);
    });

    it('overwrites an object', async () => {
      const store = await options.open();
      await store.put('models/current.json', '{"version":"v1"}');
      await store.put('models/current.json', '{"version":"v2"}');
      assert.equal((await store.get('models/current.json'))?.toString(), '{"version":"v2"}');
    });

    it('lists keys under a prefix, relative to the store, sorted', async () => {
      const store = await options.open();
      for (const key of [
        'runs/r2/raw',
        'runs/r1/raw',
        'runs/r1/clean',
        'models/v1/model.json',
        'runsheet',
      ]) {
        await store.put(key, key);
      }
      assert.deepEqual(await store.list('runs/'), ['runs/r1/clean', 'runs/r1/raw', 'runs/r2/raw']);
      assert.deepEqual(await store.list('runs/r1/'), ['runs/r1/clean', 'runs/r1/raw']);
      assert.deepEqual(await store.list('run'), [
        'runs/r1/clean',
        'runs/r1/raw',
        'runs/r2/raw',
        'runsheet',
      ]);
      assert.equal((await store.list('')).length, 5);
      assert.deepEqual(await store.list('nothing/'), []);
    });

    it('lists past one page of results', { skip: options.skipPagination }, async () => {
      const store = await options.open();
      const keys = Array.from(
        { length: 1_050 },
        (_, i) => `models/v${String(i).padStart(4, '0')}/model.json`,
      );
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, '{}')));
      }
      assert.deepEqual(await store.list('models/'), keys);
    });

    it('refuses keys that could leave the store or mean two things', async () => {
      const store = await options.open();
      for (const key of [
        '',
        '/etc/passwd',
        '../outside',
        'runs/../../x',
        'a//b',
        'a/./b',
        'trailing/',
        'back\\slash',
      ]) {
        await assert.rejects(store.put(key, 'x'), /artifact key/, JSON.stringify(key));
        await assert.rejects(store.get(key), /artifact key/, JSON.stringify(key));
      }
      await assert.rejects(store.list('../'), /artifact key/);
    });

    it('check() succeeds when the store is reachable', async () => {
      const store = await options.open();
      await store.check();
    });
  });
}
