import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { stageFailureIn, stageFailureLine } from './stage-failure.js';

describe('stage failure line', () => {
  it('is found at the end of a log tail among JSON lines and library warnings', () => {
    const tail = [
      '{"level":50,"stage":"clean","err":"the label species has only one value","msg":"stage failed"}',
      '(node:12) NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)',
      stageFailureLine('the label species has only one value ("setosa")').trimEnd(),
      '',
    ].join('\n');
    assert.equal(stageFailureIn(tail), 'the label species has only one value ("setosa")');
  });

  it('is one line even when the error spans several', () => {
    const line = stageFailureLine('first\n  second\nthird');
    assert.equal(line, 'mlpipeline: stage failed: first second third\n');
    assert.equal(stageFailureIn(line), 'first second third');
  });

  it('is absent from a tail without it', () => {
    assert.equal(stageFailureIn('Killed\n'), undefined);
    assert.equal(stageFailureIn(''), undefined);
  });
});
