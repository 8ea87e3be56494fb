import type { PipelineChange } from './types';

type Listener = (change: PipelineChange) => void;

/**
 * One event stream for the whole page. Views register what to re-read when a
 * pipeline changes; the browser reconnects by itself after a drop, and each
 * reconnect asks views to re-read, since changes may have been missed.
 */
class LiveUpdates {
  connected = $state(false);
  #source: EventSource | undefined;
  readonly #listeners = new Set<Listener>();

  #open(): void {
    if (this.#source) return;
    const source = new EventSource('/api/events');
    source.addEventListener('open', () => {
      const wasConnected = this.connected;
      this.connected = true;
      if (!wasConnected) this.#emit({ pipeline: '*', kind: 'pipeline' });
    });
    source.addEventListener('error', () => (this.connected = false));
    source.addEventListener('change', (event) => {
      this.#emit(JSON.parse((event as MessageEvent<string>).data) as PipelineChange);
    });
    this.#source = source;
  }

  #emit(change: PipelineChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  /** Calls listener on each change; returns the function that stops it. */
  subscribe(listener: Listener): () => void {
    this.#open();
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export const live = new LiveUpdates();

/**
 * Calls `reload` when changes concern `pipeline` (or any, without one), at
 * most about every 300 ms, with every change of the burst, so the many events
 * of a run's stages cause one reload and none of them is lost.
 */
export function onPipelineChange(
  pipeline: string | undefined,
  reload: (changes: PipelineChange[]) => void,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: PipelineChange[] = [];
  const stop = live.subscribe((change) => {
    if (pipeline && change.pipeline !== pipeline && change.pipeline !== '*') return;
    pending.push(change);
    timer ??= setTimeout(() => {
      timer = undefined;
      const changes = pending;
      pending = [];
      reload(changes);
    }, 300);
  });
  return () => {
    clearTimeout(timer);
    stop();
  };
}
