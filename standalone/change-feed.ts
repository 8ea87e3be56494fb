import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { PipelineChange } from '../ui/server/service.js';

type Listener = (change: PipelineChange) => void;

/**
 * Fans out hints that a pipeline changed (a run moved, a model was promoted,
 * the pipeline was suspended) to whoever listens: the server's event stream.
 * A listener that throws is logged and does not stop the others.
 */
export class ChangeFeed {
  readonly #listeners = new Set<Listener>();

  constructor(private readonly log: Logger) {}

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(change: PipelineChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.log.warn(
          { pipeline: change.pipeline, err: messageOf(error) },
          'change listener failed',
        );
      }
    }
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }
}
