import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ApiException, V1MicroTime, type V1Lease } from '@kubernetes/client-node';

import { decideLease, LeaderElector } from './leader.js';
import { FakeClock } from './fake-clock.js';

const NOW = new Date('2026-12-04T15:30:00Z');
const LEASE_MS = 15_000;

function lease(holder: string, transitions = 0): V1Lease {
  return {
    metadata: { name: 'mlpipeline-controller', namespace: 'ml', resourceVersion: '7' },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      renewTime: new V1MicroTime(NOW.getTime() - 1000),
      leaseTransitions: transitions,
    },
  };
}

describe('decideLease', () => {
  const cases: {
    name: string;
    lease: V1Lease | undefined;
    observedAgoMs: number;
    want: string;
    transitions?: number;
  }[] = [
    { name: 'no Lease yet: create it', lease: undefined, observedAgoMs: 0, want: 'create' },
    {
      name: 'held by me: renew',
      lease: lease('me', 2),
      observedAgoMs: 14_000,
      want: 'update',
      transitions: 2,
    },
    {
      name: 'held by another, seen changing just now: wait',
      lease: lease('other'),
      observedAgoMs: 0,
      want: 'wait',
    },
    {
      name: 'held by another, unchanged for less than its duration: wait',
      lease: lease('other'),
      observedAgoMs: 14_999,
      want: 'wait',
    },
    {
      name: 'held by another, unchanged for its whole duration: take over',
      lease: lease('other', 4),
      observedAgoMs: 15_000,
      want: 'update',
      transitions: 5,
    },
    {
      name: 'released (no holder): take it at once',
      lease: lease('', 4),
      observedAgoMs: 0,
      want: 'update',
      transitions: 4,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const decision = decideLease({
        lease: c.lease,
        identity: 'me',
        now: NOW,
        observedAt: NOW.getTime() - c.observedAgoMs,
        leaseDurationMs: LEASE_MS,
      });
      assert.equal(decision.action, c.want);
      if (decision.action !== 'wait') {
        assert.equal(decision.spec.holderIdentity, 'me');
        assert.equal(new Date(decision.spec.renewTime as unknown as Date).getTime(), NOW.getTime());
        assert.equal(decision.spec.leaseDurationSeconds, 15);
        if (c.transitions !== undefined)
          assert.equal(decision.spec.leaseTransitions, c.transitions);
      } else {
        assert.equal(decision.holder, 'other');
        assert.equal(decision.expiresInMs, LEASE_MS - c.observedAgoMs);
      }
    });
  }

  it('writes times with six fractional digits, as the API server requires', () => {
    const decision = decideLease({
      lease: undefined,
      identity: 'me',
      now: NOW,
      observedAt: 0,
      leaseDurationMs: LEASE_MS,
    });
    assert.equal(decision.action, 'create');
    const json = JSON.parse(JSON.stringify(decision.action === 'create' ? decision.spec : {})) as {
      renewTime: string;
    };
    assert.equal(json.renewTime, '2026-12-04T15:30:00.000000Z');
  });
});

/** A Lease store with the API server's resourceVersion rule, for the elector's loop. */
function fakeLeases() {
  let stored: V1Lease | undefined;
  let version = 0;
  let failing = false;
  const apiError = (code: number, reason: string) =>
    new ApiException(code, reason, JSON.stringify({ kind: 'Status', code, reason }), {});
  const conflict = () => apiError(409, 'Conflict');
  const coordination = {
    readNamespacedLease: () => {
      if (failing) return Promise.reject(new Error('connection refused'));
      if (stored === undefined) return Promise.reject(apiError(404, 'NotFound'));
      return Promise.resolve(structuredClone(stored));
    },
    createNamespacedLease: ({ body }: { body: V1Lease }) => {
      if (failing) return Promise.reject(new Error('connection refused'));
      if (stored !== undefined) return Promise.reject(conflict());
      stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
      return Promise.resolve(structuredClone(stored));
    },
    replaceNamespacedLease: ({ body }: { body: V1Lease }) => {
      if (failing) return Promise.reject(new Error('connection refused'));
      if (body.metadata?.resourceVersion !== stored?.metadata?.resourceVersion)
        return Promise.reject(conflict());
      stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(++version) } };
      return Promise.resolve(structuredClone(stored));
    },
  };
  return {
    coordination,
    holder: () => stored?.spec?.holderIdentity,
    fail: (on: boolean) => (failing = on),
  };
}

describe('LeaderElector', () => {
  const timing = {
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    renewPeriodMs: 5_000,
    retryPeriodMs: 2_000,
  };

  function elector(
    clock: FakeClock,
    leases: ReturnType<typeof fakeLeases>,
    identity: string,
    log: string[],
  ) {
    return new LeaderElector({
      clients: { coordination: leases.coordination } as never,
      namespace: 'ml',
      name: 'mlpipeline-controller',
      identity,
      timing,
      clock,
      onStartedLeading: () => log.push(`${identity} started`),
      onStoppedLeading: () => log.push(`${identity} stopped`),
    });
  }

  it('lets exactly one of two lead, and hands over within the lease duration when it stops renewing', async () => {
    const clock = new FakeClock();
    const leases = fakeLeases();
    const log: string[] = [];
    const a = elector(clock, leases, 'a', log);
    const b = elector(clock, leases, 'b', log);
    a.start();
    await clock.advance(1);
    b.start();
    await clock.advance(30_000);
    assert.deepEqual(log, ['a started']);
    assert.equal(a.isLeader(), true);
    assert.equal(b.isLeader(), false);

    // a's API server connection breaks: it stops acting at the renew deadline, b takes over after the lease duration.
    const original = leases.coordination.replaceNamespacedLease;
    leases.coordination.replaceNamespacedLease = (arg) =>
      arg.body.spec?.holderIdentity === 'a' ? Promise.reject(new Error('timeout')) : original(arg);
    const brokeAt = clock.now();
    let aStoppedAfter: number | undefined;
    let bStartedAfter: number | undefined;
    for (let t = 0; t < 30_000; t += 500) {
      await clock.advance(500);
      if (aStoppedAfter === undefined && !a.isLeader()) aStoppedAfter = clock.now() - brokeAt;
      if (bStartedAfter === undefined && b.isLeader()) bStartedAfter = clock.now() - brokeAt;
    }
    assert.ok(aStoppedAfter !== undefined && bStartedAfter !== undefined);
    assert.ok(aStoppedAfter <= 10_000, `a stopped after ${aStoppedAfter} ms`);
    assert.ok(bStartedAfter > aStoppedAfter, 'never two leaders at once');
    assert.ok(bStartedAfter <= 15_000 + 5_000 + 2_000, `b took over after ${bStartedAfter} ms`);
    assert.deepEqual(log, ['a started', 'a stopped', 'b started']);
    await a.stop();
    await b.stop();
  });

  it('releases the Lease on stop, so the other takes over at its next look', async () => {
    const clock = new FakeClock();
    const leases = fakeLeases();
    const log: string[] = [];
    const a = elector(clock, leases, 'a', log);
    const b = elector(clock, leases, 'b', log);
    a.start();
    await clock.advance(1);
    b.start();
    await clock.advance(5_000);
    await a.stop();
    assert.equal(leases.holder(), '');
    assert.equal(a.isLeader(), false);
    await clock.advance(2_000);
    assert.equal(b.isLeader(), true);
    assert.deepEqual(log, ['a started', 'a stopped', 'b started']);
    await b.stop();
  });
});
