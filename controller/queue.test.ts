import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { FakeClock, settle } from './fake-clock.js';
import { RetryLimiter, WorkQueue, type HandlerResult } from './queue.js';

/** A handler that records its calls and finishes each one when told to. */
function gatedHandler() {
  const calls: string[] = [];
  const waiting = new Map<
    string,
    { resolve: (r?: HandlerResult) => void; reject: (e: Error) => void }[]
  >();
  let concurrent = 0;
  let maxConcurrent = 0;
  const handler = (key: string) => {
    calls.push(key);
    concurrent++;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    return new Promise<HandlerResult | void>((resolve, reject) => {
      const list = waiting.get(key) ?? [];
      list.push({
        resolve: (r) => {
          concurrent--;
          resolve(r);
        },
        reject: (e) => {
          concurrent--;
          reject(e);
        },
      });
      waiting.set(key, list);
    });
  };
  const finish = async (key: string, result?: HandlerResult | Error) => {
    const next = waiting.get(key)?.shift();
    assert.ok(next, `no pass of ${key} is running`);
    if (result instanceof Error) next.reject(result);
    else next.resolve(result);
    await settle();
  };
  return { handler, calls, finish, maxConcurrent: () => maxConcurrent };
}

describe('WorkQueue', () => {
  it('processes a key added many times before a worker takes it once', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const h = gatedHandler();
    for (let i = 0; i < 5; i++) queue.add('ml/iris');
    queue.add('ml/wine');
    assert.equal(queue.depth, 2);
    queue.start(h.handler);
    await settle();
    assert.deepEqual(h.calls, ['ml/iris']);
    await h.finish('ml/iris');
    await h.finish('ml/wine');
    assert.deepEqual(h.calls, ['ml/iris', 'ml/wine']);
    assert.equal(queue.depth, 0);
  });

  it('never gives one key to two workers; an add during a pass runs once more after it', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock, concurrency: 4 });
    const h = gatedHandler();
    queue.start(h.handler);
    queue.add('ml/iris');
    await settle();
    queue.add('ml/iris');
    queue.add('ml/iris');
    await settle();
    assert.deepEqual(h.calls, ['ml/iris'], 'the second add waits for the first pass');
    await h.finish('ml/iris');
    assert.deepEqual(h.calls, ['ml/iris', 'ml/iris']);
    await h.finish('ml/iris');
    assert.equal(h.calls.length, 2);
    assert.equal(h.maxConcurrent(), 1);
  });

  it('runs different keys at the same time up to its concurrency', async () => {
    const queue = new WorkQueue({ clock: new FakeClock(), concurrency: 2 });
    const h = gatedHandler();
    queue.start(h.handler);
    for (const key of ['a', 'b', 'c']) queue.add(key);
    await settle();
    assert.deepEqual(h.calls, ['a', 'b']);
    assert.equal(queue.active, 2);
    await h.finish('b');
    assert.deepEqual(h.calls, ['a', 'b', 'c']);
  });

  it('retries a failing key with doubling waits up to the cap, and forgets them on success', async () => {
    const clock = new FakeClock();
    const passes: { key: string; retryInMs?: number; error?: unknown }[] = [];
    const queue = new WorkQueue({
      clock,
      backoff: { baseMs: 100, capMs: 1000, retriesPerSecond: 1000, retryBurst: 1000 },
      onPass: (p) => passes.push(p),
    });
    let fail = true;
    let calls = 0;
    queue.start(async () => {
      calls++;
      await Promise.resolve();
      if (fail) throw new Error('API server unavailable');
    });
    queue.add('ml/iris');
    await settle();
    // Passes at 0, 100, 300, 700, 1500 and 2500 ms.
    await clock.advance(2500);
    assert.deepEqual(
      passes.map((p) => p.retryInMs),
      [100, 200, 400, 800, 1000, 1000],
    );
    assert.equal(queue.failures('ml/iris'), 6);
    assert.ok(passes.every((p) => p.error instanceof Error));

    fail = false;
    await clock.advance(1000);
    assert.equal(queue.failures('ml/iris'), 0);
    const before = calls;
    await clock.advance(10_000);
    assert.equal(calls, before, 'a key that succeeded is not retried');
  });

  it('does not retry before the backoff has passed', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({
      clock,
      backoff: { baseMs: 500, capMs: 60_000, retriesPerSecond: 1000, retryBurst: 1000 },
    });
    let calls = 0;
    queue.start(() => {
      calls++;
      return Promise.reject(new Error('conflict'));
    });
    queue.add('k');
    await settle();
    assert.equal(calls, 1);
    await clock.advance(499);
    assert.equal(calls, 1);
    await clock.advance(1);
    assert.equal(calls, 2);
    await clock.advance(999);
    assert.equal(calls, 2);
    await clock.advance(1);
    assert.equal(calls, 3);
  });

  it('requeues after the delay a pass asks for, keeping the earliest of two delays', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const calls: number[] = [];
    queue.start(() => {
      calls.push(clock.now());
      return Promise.resolve({ requeueAfterMs: 60_000 });
    });
    const start = clock.now();
    queue.add('k');
    await settle();
    queue.addAfter('k', 5_000);
    await clock.advance(5_000);
    assert.deepEqual(
      calls.map((t) => t - start),
      [0, 5_000],
    );
    await clock.advance(60_000);
    assert.deepEqual(
      calls.map((t) => t - start),
      [0, 5_000, 65_000],
    );
  });

  it('adds every listed key at each resync period', async () => {
    const clock = new FakeClock();
    const keys = ['ml/iris', 'ml/wine'];
    const queue = new WorkQueue({ clock, resyncMs: 30_000, listKeys: () => keys });
    const seen: string[] = [];
    queue.start((key) => {
      seen.push(key);
      return Promise.resolve();
    });
    await clock.advance(29_999);
    assert.deepEqual(seen, []);
    await clock.advance(1);
    assert.deepEqual(seen, ['ml/iris', 'ml/wine']);
    await clock.advance(30_000);
    assert.equal(seen.length, 4);
    await queue.stop();
    await clock.advance(60_000);
    assert.equal(seen.length, 4, 'a stopped queue does not resync');
  });

  it('collects keys while paused and hands them out when started again', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const seen: string[] = [];
    const handler = (key: string) => {
      seen.push(key);
      return Promise.resolve();
    };
    queue.start(handler);
    await queue.pause();
    queue.add('k');
    await settle();
    assert.deepEqual(seen, []);
    queue.start(handler);
    await settle();
    assert.deepEqual(seen, ['k']);
  });

  it('ignores adds after stop and waits for running passes', async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const h = gatedHandler();
    queue.start(h.handler);
    queue.add('k');
    await settle();
    let stopped = false;
    const stopping = queue.stop().then(() => (stopped = true));
    await settle();
    assert.equal(stopped, false, 'stop waits for the running pass');
    await h.finish('k');
    await stopping;
    queue.add('other');
    await settle();
    assert.deepEqual(h.calls, ['k']);
  });
});

describe('RetryLimiter', () => {
  it('holds retries of all keys together to the rate once the burst is spent', () => {
    const clock = new FakeClock();
    const limiter = new RetryLimiter(
      { baseMs: 1, capMs: 1, retriesPerSecond: 10, retryBurst: 3 },
      clock,
    );
    const delays = ['a', 'b', 'c', 'd', 'e'].map((key) => limiter.whenNext(key));
    assert.deepEqual(delays, [1, 1, 1, 100, 200]);
  });

  it('refills the bucket as time passes', async () => {
    const clock = new FakeClock();
    const limiter = new RetryLimiter(
      { baseMs: 1, capMs: 1, retriesPerSecond: 10, retryBurst: 2 },
      clock,
    );
    limiter.whenNext('a');
    limiter.whenNext('b');
    await clock.advance(1000);
    assert.equal(limiter.whenNext('c'), 1);
    assert.equal(limiter.whenNext('d'), 1);
    assert.equal(limiter.whenNext('e'), 100);
  });

  it('keeps the per-key wait finite after very many failures', () => {
    const limiter = new RetryLimiter(
      { baseMs: 10, capMs: 60_000, retriesPerSecond: 1e9, retryBurst: 1e9 },
      new FakeClock(),
    );
    let last = 0;
    for (let i = 0; i < 2000; i++) last = limiter.whenNext('k');
    assert.equal(last, 60_000);
  });
});
