/** What a failed request means to the person who made it. */
export function describeFailure(status: number, serverMessage: string | undefined): string {
  if (status === 401) {
    return `Not signed in for actions: ${serverMessage ?? 'this action needs the API token'}. Enter the token and try again.`;
  }
  if (status === 403) {
    return `Not allowed: ${serverMessage ?? 'the API token was refused'}.`;
  }
  if (serverMessage) return serverMessage;
  if (status === 404) return 'Not found.';
  if (status >= 500) return `The server could not answer (HTTP ${status}). See the server log.`;
  return `The request failed (HTTP ${status}).`;
}
