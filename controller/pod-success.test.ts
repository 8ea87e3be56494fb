import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { job, pipeline, pod } from './fixtures.js';
import { PodSuccessTimes } from './pod-success.js';

const collect = job(pipeline(), 'iris-202612041530', 'collect', { phase: 'Running' });

describe('PodSuccessTimes', () => {
  it('keeps the first time a pod was seen Succeeded', () => {
    let now = 1000;
    const times = new PodSuccessTimes({ now: () => now });
    const done = pod(collect, 'Succeeded');
    times.observe(pod(collect, 'Running'), false);
    assert.equal(times.at(done), undefined);
    times.observe(done, false);
    now = 1500;
    times.observe(done, false);
    assert.equal(times.at(done), 1000);
  });

  it("does not take a listed pod's arrival for its success", () => {
    const times = new PodSuccessTimes({ now: () => 1000 });
    const done = pod(collect, 'Succeeded');
    times.observe(done, true);
    assert.equal(times.at(done), undefined);
  });

  it('forgets successes older than it keeps', () => {
    let now = 0;
    const times = new PodSuccessTimes({ now: () => now, keepMs: 100 });
    const first = pod(collect, 'Succeeded', { name: 'a' });
    const second = pod(collect, 'Succeeded', { name: 'b' });
    times.observe(first, false);
    now = 150;
    times.observe(second, false);
    assert.equal(times.at(first), undefined);
    assert.equal(times.at(second), 150);
    assert.equal(times.size, 1);
  });
});
