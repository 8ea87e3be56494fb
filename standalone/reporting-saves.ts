import type { ResultsStore, RunRecord } from '../core/ports.js';

/**
 * The results store, telling `onSaved` after each write of a run's record:
 * how a run in a worker lets the main thread know a stage moved.
 */
export function reportingSaves(
  results: ResultsStore,
  onSaved: (run: RunRecord) => void,
): ResultsStore {
  return new Proxy(results, {
    get(target, property, receiver) {
      if (property === 'saveRun') {
        return async (run: RunRecord) => {
          await target.saveRun(run);
          onSaved(structuredClone(run));
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}
