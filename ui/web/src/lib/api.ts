// The browser's side of the HTTP API: JSON in, errors as sentences out.

import { describeFailure } from './failure';

const TOKEN_KEY = 'mlpipeline.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

export function storeToken(token: string | undefined): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function request(path: string, init: RequestInit = {}, withToken = false): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = storedToken();
  if (withToken && token) headers.set('authorization', `Bearer ${token}`);
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers });
  } catch {
    throw new ApiError(0, 'Cannot reach the server. Is it running?');
  }
  if (!res.ok) {
    let message: string | undefined;
    try {
      message = ((await res.json()) as { error?: string }).error;
    } catch {
      // Not JSON (a proxy's error page): the status says enough.
    }
    throw new ApiError(res.status, describeFailure(res.status, message));
  }
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

export async function getText(path: string): Promise<string> {
  return (await request(path)).text();
}

export async function postJson<T>(path: string, body: unknown = {}, withToken = false): Promise<T> {
  const res = await request(
    path,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    },
    withToken,
  );
  return (await res.json()) as T;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  return 'Something went wrong in the page. Reload it to try again.';
}
