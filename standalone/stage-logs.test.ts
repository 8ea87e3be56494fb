import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DirArtifactStore } from '../jobs/adapters/dir-artifact-store.js';
import { MAX_LINES_PER_STAGE, StageLogBook, stageLogKey, stageOfLine } from './stage-logs.js';

const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 'info', ...fields });

describe('stageOfLine', () => {
  it('reads the stage field of a JSON line', () => {
    assert.equal(stageOfLine(line({ stage: 'train', msg: 'x' })), 'train');
  });
  it('ignores lines without a known stage, and text', () => {
    assert.equal(stageOfLine(line({ msg: 'run finished' })), undefined);
    assert.equal(stageOfLine(line({ stage: 'deploy' })), undefined);
    assert.equal(stageOfLine('not json'), undefined);
    assert.equal(stageOfLine('{"torn": '), undefined);
  });
});

describe('StageLogBook', () => {
  it('holds a running run’s lines, then keeps them in the store per stage', async () => {
    const store = new DirArtifactStore(mkdtempSync(join(tmpdir(), 'mlp-logs-')));
    const book = new StageLogBook();
    book.append('r1', line({ stage: 'collect', msg: 'stage started' }) + '\n');
    book.append('r1', line({ msg: 'run started' }));
    book.append('r1', line({ stage: 'train', msg: 'trained model' }));
    assert.match(book.live('r1', 'collect')!, /stage started/);
    assert.equal(book.live('r1', 'predict'), '');
    assert.equal(book.live('r2', 'collect'), undefined);

    await book.persist('r1', store);
    assert.equal(book.live('r1', 'collect'), undefined);
    assert.equal(
      (await store.get(stageLogKey('r1', 'train')))?.toString(),
      line({ stage: 'train', msg: 'trained model' }) + '\n',
    );
    assert.match((await book.read('r1', 'collect', store))!, /stage started/);
    assert.equal(await book.read('r1', 'predict', store), undefined);
  });

  it('keeps the newest lines of a stage that logs without end, and says so', () => {
    const book = new StageLogBook();
    for (let i = 0; i < MAX_LINES_PER_STAGE + 3; i++) book.append('r', line({ stage: 'clean', i }));
    const lines = book.live('r', 'clean')!.trim().split('\n');
    assert.equal(lines.length, MAX_LINES_PER_STAGE + 1);
    assert.match(lines[0]!, /3 earlier lines not kept/);
    assert.match(lines[1]!, /"i":3/);
  });
});
