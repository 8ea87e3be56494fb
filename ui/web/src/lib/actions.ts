import { ApiError, errorText, postJson } from './api';
import { session } from './session.svelte';

/**
 * An action (run now, suspend, resume) with the token: asks for it once,
 * and forgets a token the server refused so the next try asks again.
 */
export async function act<T>(
  path: string,
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  if (!(await session.ensureToken())) {
    return { ok: false, error: 'No token entered: actions need the API token.' };
  }
  try {
    return { ok: true, value: await postJson<T>(path, {}, true) };
  } catch (error) {
    if (
      error instanceof ApiError &&
      (error.status === 401 || /token is not valid/.test(error.message))
    ) {
      session.forgetToken();
    }
    return { ok: false, error: errorText(error) };
  }
}
