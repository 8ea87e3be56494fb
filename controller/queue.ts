/**
 * The work queue between the watches and reconcile. Watches only add keys;
 * workers take them out one at a time. The rules are those of client-go's
 * queue, because each one prevents a known failure:
 * - a key is queued at most once, however many notifications arrive, so a
 *   burst of Pod updates costs one pass;
 * - a key being processed is never handed to a second worker; added again
 *   meanwhile, it is processed once more afterwards, so no change is lost and
 *   two passes never race on one pipeline;
 * - a failing key waits longer each time (doubling, capped), and retries of
 *   all keys together are held to a rate, so one broken pipeline or an API
 *   server in trouble is not hammered;
 * - every key is queued again periodically (resync), so anything a watch
 *   missed is corrected within one period.
 * The clock and timers are injected, so all of this is tested without sleeping.
 */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    // Node fires a timer above 2^31 - 1 ms after 1 ms instead: a far slot would become a busy loop.
    const timer = setTimeout(fn, Math.min(ms, MAX_TIMER_MS));
    // Timers must not keep a stopping process alive.
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface BackoffOptions {
  /** Wait before the first retry of a key. */
  baseMs: number;
  /** The longest wait of one key. */
  capMs: number;
  /** Retries of all keys together, per second. */
  retriesPerSecond: number;
  /** Retries allowed at once before the rate applies. */
  retryBurst: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  baseMs: 500,
  capMs: 5 * 60_000,
  retriesPerSecond: 10,
  retryBurst: 100,
};

/** What a handler asks for after a pass that did not fail. */
export interface HandlerResult {
  /** Process the key again after this long (the next schedule time, say). */
  requeueAfterMs?: number;
}

export type Handler = (key: string) => Promise<HandlerResult | void>;

export interface WorkQueueOptions {
  clock?: Clock;
  backoff?: Partial<BackoffOptions>;
  /** Every key listKeys returns is added this often; 0 turns resync off. */
  resyncMs?: number;
  listKeys?: () => Iterable<string>;
  /** Workers: keys processed at the same time, each a different key. */
  concurrency?: number;
  /** Told about every pass, for metrics and logs. */
  onPass?: (pass: { key: string; durationMs: number; error?: unknown; retryInMs?: number }) => void;
}

/**
 * Exponential per-key delay, and a token bucket over all retries: a retry
 * waits for whichever is later.
 */
export class RetryLimiter {
  readonly #options: BackoffOptions;
  readonly #clock: Clock;
  readonly #failures = new Map<string, number>();
  #tokens: number;
  #refilledAt: number;

  constructor(options: BackoffOptions, clock: Clock) {
    this.#options = options;
    this.#clock = clock;
    this.#tokens = options.retryBurst;
    this.#refilledAt = clock.now();
  }

  /** How long key waits before its next attempt, counting this failure. */
  whenNext(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const { baseMs, capMs } = this.#options;
    // 2 ** failures overflows to Infinity long after the cap applies: Math.min keeps it finite.
    const perKey = Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 52));
    return Math.max(perKey, this.#takeToken());
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Takes a token, possibly one not yet refilled: the delay until it is. */
  #takeToken(): number {
    const { retriesPerSecond, retryBurst } = this.#options;
    const now = this.#clock.now();
    const elapsed = now - this.#refilledAt;
    this.#tokens = Math.min(retryBurst, this.#tokens + (elapsed * retriesPerSecond) / 1000);
    this.#refilledAt = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens * 1000) / retriesPerSecond);
  }
}

export class WorkQueue {
  readonly #clock: Clock;
  readonly #limiter: RetryLimiter;
  readonly #options: WorkQueueOptions;
  /** Keys waiting for a worker, in order; each at most once. */
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  /** Keys a worker holds now. */
  readonly #processing = new Set<string>();
  /** Keys added while being processed: queued again when their worker is done. */
  readonly #dirty = new Set<string>();
  /** Delayed adds: the earliest wins. */
  readonly #delayed = new Map<string, { at: number; timer: unknown }>();
  readonly #running = new Set<Promise<void>>();
  #handler: Handler | undefined;
  #resyncTimer: unknown;
  #stopped = false;
  #paused = true;

  constructor(options: WorkQueueOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#limiter = new RetryLimiter({ ...DEFAULT_BACKOFF, ...options.backoff }, this.#clock);
  }

  /** Keys waiting, not counting those being processed or delayed. */
  get depth(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  get active(): number {
    return this.#processing.size;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#pump();
  }

  /** Adds key after delayMs, unless an earlier add for it is already pending. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending !== undefined) {
      if (pending.at <= at) return;
      this.#clock.clearTimeout(pending.timer);
    }
    const timer = this.#clock.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    this.#delayed.set(key, { at, timer });
  }

  /** Adds key after its backoff; returns the delay. */
  addRateLimited(key: string): number {
    const delay = this.#limiter.whenNext(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** Failures counted for key since its last success. */
  failures(key: string): number {
    return this.#limiter.failures(key);
  }

  /**
   * Starts handing keys to handler. Paused (the default until start), keys
   * are still collected, so a new leader begins with everything that arrived.
   */
  start(handler: Handler): void {
    this.#handler = handler;
    this.#paused = false;
    this.#scheduleResync();
    this.#pump();
  }

  /** Stops handing out keys; keys keep being collected. Resolves when no worker runs. */
  async pause(): Promise<void> {
    this.#paused = true;
    this.#clock.clearTimeout(this.#resyncTimer);
    await this.drain();
  }

  /** Adds every key listKeys gives, as the periodic resync does. */
  resync(): void {
    for (const key of this.#options.listKeys?.() ?? []) this.add(key);
  }

  /** Resolves when no worker runs. */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /** For good: nothing is added or handed out after this. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#paused = true;
    this.#clock.clearTimeout(this.#resyncTimer);
    for (const { timer } of this.#delayed.values()) this.#clock.clearTimeout(timer);
    this.#delayed.clear();
    await this.drain();
  }

  #scheduleResync(): void {
    const every = this.#options.resyncMs ?? 0;
    if (every <= 0 || this.#paused) return;
    this.#clock.clearTimeout(this.#resyncTimer);
    this.#resyncTimer = this.#clock.setTimeout(() => {
      this.resync();
      this.#scheduleResync();
    }, every);
  }

  #pump(): void {
    const handler = this.#handler;
    if (handler === undefined || this.#paused) return;
    const concurrency = this.#options.concurrency ?? 1;
    while (this.#processing.size < concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#queued.delete(key);
      this.#processing.add(key);
      const pass = this.#process(handler, key);
      this.#running.add(pass);
      void pass.finally(() => this.#running.delete(pass));
    }
  }

  async #process(handler: Handler, key: string): Promise<void> {
    const started = this.#clock.now();
    let error: unknown;
    let failed = false;
    let result: HandlerResult | void = undefined;
    try {
      result = await handler(key);
    } catch (caught) {
      failed = true;
      error = caught;
    }

    this.#processing.delete(key);
    let retryInMs: number | undefined;
    if (failed) {
      retryInMs = this.addRateLimited(key);
    } else {
      this.#limiter.forget(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined && Number.isFinite(after)) {
        this.addAfter(key, Math.max(0, after));
        retryInMs = after;
      }
    }
    if (this.#dirty.delete(key)) this.add(key);

    this.#options.onPass?.({
      key,
      durationMs: this.#clock.now() - started,
      ...(failed && { error }),
      ...(retryInMs !== undefined && { retryInMs }),
    });
    this.#pump();
  }
}
