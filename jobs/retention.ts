import type { ArtifactStore } from '../core/ports.js';

/**
 * Deletes the artifacts (raw rows, cleaned data, the run's model copy) of runs
 * no longer in the run history, so a pipeline's storage stays bounded by its
 * historyLimit. Model versions are never deleted: a pinned or current version
 * must stay loadable. Returns the run ids whose artifacts were removed.
 */
export async function pruneRunArtifacts(
  store: ArtifactStore,
  keep: ReadonlySet<string>,
): Promise<string[]> {
  const keys = await store.list('runs/');
  const byRun = new Map<string, string[]>();
  for (const key of keys) {
    const runId = key.split('/')[1];
    if (!runId || keep.has(runId)) continue;
    byRun.set(runId, [...(byRun.get(runId) ?? []), key]);
  }
  for (const runKeys of byRun.values()) {
    // Data before the description, the reverse of writing, so a reader never
    // finds a description without its data.
    const ordered = [...runKeys].sort(
      (a, b) => Number(a.endsWith('.json')) - Number(b.endsWith('.json')),
    );
    for (const key of ordered) await store.delete(key);
  }
  return [...byRun.keys()];
}
