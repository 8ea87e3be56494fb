import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ArtifactStore } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';

/** A suspend or resume from the API, with what the pipeline file said when it was given. */
export interface SuspendOverride {
  suspended: boolean;
  fileSaid: boolean;
  at: string;
}

/** Kept in the pipeline's model store, so it outlives the process and is shared by replicas. */
export const SUSPEND_KEY = 'state/suspend.json';

/**
 * Whether a pipeline is suspended: the API's last word, unless the file's
 * spec.suspend has changed since, since an edited file is the newer decision.
 */
export function effectiveSuspend(fileSays: boolean, override?: SuspendOverride): boolean {
  if (!override || override.fileSaid !== fileSays) return fileSays;
  return override.suspended;
}

/**
 * Suspend and resume in one container, where there is no resource to patch:
 * the override is written to the model store and read back at start.
 */
export class SuspendSwitch {
  readonly #overrides = new Map<string, SuspendOverride>();

  private constructor(private readonly storeFor: (pipeline: Pipeline) => ArtifactStore) {}

  static async load(
    pipelines: Pipeline[],
    storeFor: (pipeline: Pipeline) => ArtifactStore,
    log: Logger,
  ): Promise<SuspendSwitch> {
    const sw = new SuspendSwitch(storeFor);
    await Promise.all(
      pipelines.map(async (pipeline) => {
        try {
          const bytes = await storeFor(pipeline).get(SUSPEND_KEY);
          if (bytes) sw.#overrides.set(pipeline.name, parseOverride(bytes.toString('utf8')));
        } catch (error) {
          log.warn(
            { pipeline: pipeline.name, err: messageOf(error) },
            'cannot read the suspend state; using the file',
          );
        }
      }),
    );
    return sw;
  }

  isSuspended(pipeline: Pipeline): boolean {
    return effectiveSuspend(pipeline.spec.suspend, this.#overrides.get(pipeline.name));
  }

  async set(pipeline: Pipeline, suspended: boolean, now = new Date()): Promise<void> {
    const override: SuspendOverride = {
      suspended,
      fileSaid: pipeline.spec.suspend,
      at: now.toISOString(),
    };
    await this.storeFor(pipeline).put(SUSPEND_KEY, JSON.stringify(override));
    this.#overrides.set(pipeline.name, override);
  }
}

function parseOverride(text: string): SuspendOverride {
  const value = JSON.parse(text) as Partial<SuspendOverride>;
  if (typeof value.suspended !== 'boolean' || typeof value.fileSaid !== 'boolean') {
    throw new Error(`${SUSPEND_KEY}: expected {"suspended": boolean, "fileSaid": boolean}`);
  }
  return { suspended: value.suspended, fileSaid: value.fileSaid, at: String(value.at ?? '') };
}
