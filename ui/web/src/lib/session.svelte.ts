import { getJson, storedToken, storeToken } from './api';

/**
 * Whether this page may act: the server must have a token configured, and the
 * user must have entered it once in this tab (kept in sessionStorage only).
 */
class Session {
  mode = $state<'standalone' | 'kubernetes' | undefined>(undefined);
  serverAllowsActions = $state(false);
  hasToken = $state(storedToken() !== undefined);
  askingForToken = $state(false);
  #pending: ((ok: boolean) => void) | undefined;

  async load(): Promise<void> {
    const info = await getJson<{ mode: 'standalone' | 'kubernetes'; actions: boolean }>(
      '/api/session',
    );
    this.mode = info.mode;
    this.serverAllowsActions = info.actions;
  }

  /** Resolves true once a token is stored, asking for it when there is none. */
  ensureToken(): Promise<boolean> {
    if (this.hasToken) return Promise.resolve(true);
    this.askingForToken = true;
    return new Promise((resolve) => (this.#pending = resolve));
  }

  submitToken(token: string | undefined): void {
    storeToken(token?.trim() || undefined);
    this.hasToken = storedToken() !== undefined;
    this.askingForToken = false;
    this.#pending?.(this.hasToken);
    this.#pending = undefined;
  }

  forgetToken(): void {
    storeToken(undefined);
    this.hasToken = false;
  }
}

export const session = new Session();
