/**
 * Page addresses, kept in the browser's history so links, reload and the
 * back button work: /, /pipelines/NAME, /pipelines/NAME/predictions,
 * /pipelines/NAME/predict, /connections.
 */
export type Route =
  | { page: 'pipelines' }
  | { page: 'pipeline'; name: string }
  | { page: 'predictions'; name: string }
  | { page: 'predict'; name: string }
  | { page: 'connections' }
  | { page: 'missing'; path: string };

const NAME = '([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)';

export function parseRoute(path: string): Route {
  const clean = path.replace(/\/+$/, '') || '/';
  if (clean === '/') return { page: 'pipelines' };
  if (clean === '/connections') return { page: 'connections' };
  const match = new RegExp(`^/pipelines/${NAME}(?:/(predictions|predict))?$`).exec(clean);
  if (match) {
    const name = match[1]!;
    if (match[2] === 'predictions') return { page: 'predictions', name };
    if (match[2] === 'predict') return { page: 'predict', name };
    return { page: 'pipeline', name };
  }
  return { page: 'missing', path };
}

class Router {
  path = $state(location.pathname);
  search = $state(location.search);
  route = $derived(parseRoute(this.path));

  constructor() {
    addEventListener('popstate', () => this.#sync());
  }

  #sync(): void {
    this.path = location.pathname;
    this.search = location.search;
  }

  go(href: string, replace = false): void {
    if (replace) history.replaceState(null, '', href);
    else history.pushState(null, '', href);
    this.#sync();
    if (!replace) window.scrollTo(0, 0);
  }

  /** A click on an in-app link: handled here unless the user wants a new tab. */
  handleClick = (event: MouseEvent): void => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element).closest('a');
    if (!anchor || anchor.target || anchor.origin !== location.origin) return;
    if (anchor.hasAttribute('download')) return;
    event.preventDefault();
    this.go(anchor.pathname + anchor.search);
  };

  get query(): URLSearchParams {
    return new URLSearchParams(this.search);
  }
}

export const router = new Router();
