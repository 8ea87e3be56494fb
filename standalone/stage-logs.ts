import type { ArtifactStore, StageName } from '../core/ports.js';
import { STAGES } from '../core/ports.js';

/** A stage that logs without pause keeps its newest lines; memory and storage stay bounded. */
export const MAX_LINES_PER_STAGE = 5000;

/** Where a finished run's stage log is kept: beside its data, so it is pruned with the run. */
export const stageLogKey = (runId: string, stage: StageName): string =>
  `runs/${runId}/logs/${stage}.jsonl`;

/** The stage a JSON log line belongs to, from the `stage` field every stage logger carries. */
export function stageOfLine(line: string): StageName | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const stage = (JSON.parse(line) as { stage?: unknown }).stage;
    return STAGES.find((s) => s === stage);
  } catch {
    return undefined;
  }
}

interface StageLines {
  lines: string[];
  dropped: number;
}

/**
 * The log lines of each stage of each run this process runs: held in memory
 * while the run is active (so the page can show a stage as it works), then
 * written to the pipeline's model store when the run ends.
 */
export class StageLogBook {
  readonly #live = new Map<string, Map<StageName, StageLines>>();

  append(runId: string, line: string): void {
    const stage = stageOfLine(line);
    if (!stage) return;
    let stages = this.#live.get(runId);
    if (!stages) this.#live.set(runId, (stages = new Map<StageName, StageLines>()));
    let entry = stages.get(stage);
    if (!entry) stages.set(stage, (entry = { lines: [], dropped: 0 }));
    entry.lines.push(line.trimEnd());
    if (entry.lines.length > MAX_LINES_PER_STAGE) {
      entry.lines.shift();
      entry.dropped++;
    }
  }

  /** The lines so far of a run still active here, or undefined when this process holds none. */
  live(runId: string, stage: StageName): string | undefined {
    const stages = this.#live.get(runId);
    if (!stages) return undefined;
    const entry = stages.get(stage);
    return entry ? render(entry) : '';
  }

  /** Writes the run's stage logs to the store and forgets them. */
  async persist(runId: string, store: ArtifactStore): Promise<void> {
    const stages = this.#live.get(runId);
    if (!stages) return;
    await Promise.all(
      [...stages].map(([stage, entry]) => store.put(stageLogKey(runId, stage), render(entry))),
    );
    this.#live.delete(runId);
  }

  /** A stage's log: live while the run is active here, else as stored; undefined when neither. */
  async read(runId: string, stage: StageName, store: ArtifactStore): Promise<string | undefined> {
    const live = this.live(runId, stage);
    if (live !== undefined) return live;
    return (await store.get(stageLogKey(runId, stage)))?.toString('utf8');
  }
}

function render(entry: StageLines): string {
  const note =
    entry.dropped > 0
      ? [JSON.stringify({ level: 'info', msg: `${entry.dropped} earlier lines not kept` })]
      : [];
  return [...note, ...entry.lines].join('\n') + (entry.lines.length > 0 ? '\n' : '');
}
