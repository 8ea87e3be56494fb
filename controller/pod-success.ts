/**
 * When this process first saw each stage pod in phase Succeeded: where the
 * chaining latency metric starts. The API server only has the container's
 * finishedAt, in whole seconds, which cannot resolve a latency measured in
 * tens of milliseconds; the watch event's arrival here can.
 */
import type { V1Pod } from '@kubernetes/client-node';

/** How long a success is remembered: far longer than any pass takes to chain it. */
const KEEP_MS = 15 * 60_000;

export class PodSuccessTimes {
  /** By pod uid, in the order seen, so the oldest are at the front. */
  readonly #at = new Map<string, number>();
  readonly #now: () => number;
  readonly #keepMs: number;

  constructor(options: { now?: () => number; keepMs?: number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#keepMs = options.keepMs ?? KEEP_MS;
  }

  /**
   * Notes pod's success the first time it is seen. A pod that came with a
   * list (a start, or a watch restart) is not noted: it may have succeeded
   * long before, and the time seen would understate the latency.
   */
  observe(pod: V1Pod, listed: boolean): void {
    const uid = pod.metadata?.uid;
    if (listed || uid === undefined || pod.status?.phase !== 'Succeeded') return;
    if (this.#at.has(uid)) return;
    const now = this.#now();
    this.#at.set(uid, now);
    for (const [old, at] of this.#at) {
      if (now - at <= this.#keepMs) break;
      this.#at.delete(old);
    }
  }

  /** When pod was first seen Succeeded, in epoch milliseconds; undefined when it was not seen so. */
  at(pod: V1Pod): number | undefined {
    const uid = pod.metadata?.uid;
    return uid === undefined ? undefined : this.#at.get(uid);
  }

  get size(): number {
    return this.#at.size;
  }
}
