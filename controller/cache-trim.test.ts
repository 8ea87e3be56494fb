import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { trimJob, trimMetadata, trimPod } from './cache-trim.js';
import { cronJobNeedsUpdate, desiredCronJobs, trimCronJob } from './desired.js';
import { job, pipeline, pod, SETTINGS } from './fixtures.js';

describe('cache trimming', () => {
  const p = pipeline();

  it('a trimmed CronJob compares as the whole one did, and loses its pod template', () => {
    const [desired] = desiredCronJobs(p, SETTINGS);
    const cached = structuredClone(desired!);
    trimCronJob(cached);
    assert.equal(cached.spec, undefined);
    assert.equal(cronJobNeedsUpdate(cached, desired!), false);

    const edited = desiredCronJobs(pipeline({ stages: { collect: { retries: 5 } } }), SETTINGS)[0]!;
    assert.equal(cronJobNeedsUpdate(cached, edited), true, 'a spec edit still shows');
    trimCronJob(cached);
    assert.equal(cronJobNeedsUpdate(cached, desired!), false, 'trimming twice changes nothing');
  });

  it('a trimmed Job keeps what its phase needs and the phase it had', () => {
    const j = job(p, 'iris-202612041530', 'collect', { phase: 'Running' });
    const before = structuredClone(j);
    trimJob(j);
    assert.deepEqual(j.status, before.status);
    assert.deepEqual(j.metadata, before.metadata);
    assert.equal(j.spec?.backoffLimit, before.spec?.backoffLimit);
    assert.deepEqual(j.spec?.template, {});
  });

  it('a trimmed pod keeps metadata and status, and managedFields go from any object', () => {
    const j = job(p, 'iris-202612041530', 'collect', { phase: 'Running' });
    const po = pod(j, 'Succeeded', { finishedAt: '2026-12-04T15:30:09Z' });
    po.metadata!.managedFields = [{ manager: 'kubelet', operation: 'Update' }];
    const status = structuredClone(po.status);
    trimPod(po);
    trimMetadata(po);
    assert.equal(po.spec, undefined);
    assert.equal(po.metadata?.managedFields, undefined);
    assert.deepEqual(po.status, status);
  });
});
