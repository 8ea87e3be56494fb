/**
 * A problem the user must fix (a spec, a source, a configuration): retrying
 * will not help, and the message is shown as it is.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** The message of anything thrown, without a stack. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
