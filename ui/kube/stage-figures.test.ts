import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { RunRecord } from '../../core/ports.js';
import type { ModelDocument } from '../../jobs/model-version.js';
import { figuresFrom } from './stage-figures.js';
import { withStageFigures } from './views.js';

const model = {
  version: 'v20261204-153005-ab12',
  metrics: { accuracy: 0.97, macroF1: 0.96 },
  rows: { total: 149, train: 119, test: 30 },
  promotion: { promoted: true, reason: 'first model' },
} as unknown as ModelDocument;

describe('figuresFrom', () => {
  it('gives each stage the figures its summary holds in one container', () => {
    const figures = figuresFrom({
      clean: {
        features: ['a', 'b'],
        label: 'y',
        classes: ['p', 'q'],
        rows: 149,
        inputRows: 150,
        dropped: { duplicate: 1 },
      },
      model,
      predictions: {
        runId: 'iris-202612041530',
        modelVersion: model.version,
        rowsWritten: 150,
        table: 'predictions',
        scoredAt: '2026-12-04T15:30:09.000Z',
      },
    });
    assert.deepEqual(figures.collect, { rowsRead: 150 });
    assert.deepEqual(figures.clean, {
      rowsIn: 150,
      rowsOut: 149,
      dropped: { duplicate: 1 },
      classes: ['p', 'q'],
    });
    assert.equal(figures.train?.modelVersion, model.version);
    assert.equal(figures.train?.promoted, true);
    assert.equal(figures.train?.rowsTrain, 119);
    assert.equal(figures.train?.rowsTest, 30);
    assert.deepEqual(figures.predict, {
      modelVersion: model.version,
      rowsWritten: 150,
      table: 'predictions',
    });
  });

  it('a stage that left nothing has no figures', () => {
    assert.deepEqual(figuresFrom({}), {});
    assert.deepEqual(Object.keys(figuresFrom({ model })), ['train']);
  });
});

describe('withStageFigures', () => {
  it('adds figures to succeeded stages only, keeping what the summary said', () => {
    const run: RunRecord = {
      pipeline: 'iris',
      runId: 'iris-202612041530',
      trigger: 'schedule',
      startStage: 'collect',
      phase: 'Failed',
      startedAt: '2026-12-04T15:30:01.000Z',
      stages: [
        { stage: 'collect', phase: 'Succeeded', attempts: 1, summary: { jobName: 'j-collect' } },
        { stage: 'clean', phase: 'Failed', attempts: 1 },
      ],
    };
    const out = withStageFigures(run, {
      collect: { rowsRead: 150 },
      clean: { rowsIn: 150 },
    });
    assert.deepEqual(out.stages[0]!.summary, { rowsRead: 150, jobName: 'j-collect' });
    assert.equal(out.stages[1]!.summary, undefined);
    assert.equal(run.stages[0]!.summary!.rowsRead, undefined, 'the input is not changed');
  });
});
