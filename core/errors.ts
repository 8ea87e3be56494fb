/**
 * A problem the user must fix (a spec, a source, a configuration): retrying
 * will not help, and the message is shown as it is.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** Why a run stopped when a newer one started under concurrencyPolicy Replace. */
export class RunReplacedError extends Error {
  override readonly name = 'RunReplacedError';
  constructor(readonly byRunId: string) {
    super(`replaced by run ${byRunId} (concurrencyPolicy Replace)`);
  }
}

/** The message of anything thrown, without a stack. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
