import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/**
 * Browser tests drive Debian's Chromium (`apt-get install chromium`) through
 * playwright-core. Without it they are skipped with a reason, unless
 * MLP_BROWSER_REQUIRED=1 (as in CI) makes that a failure.
 */
export const CHROMIUM_PATH = process.env.MLP_CHROMIUM_PATH ?? '/usr/bin/chromium';

const root = fileURLToPath(new URL('../../', import.meta.url));
export const SCREENSHOT_DIR = join(root, 'test-artifacts', 'screenshots');

/** Why the browser tests cannot run here, or undefined when they can (or must). */
export function browserSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH)) return undefined;
  if (process.env.MLP_BROWSER_REQUIRED === '1') return undefined;
  return `${CHROMIUM_PATH} not found: install Debian's chromium (test/infra/install.sh) to run the browser tests`;
}

export interface BrowserSession {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile, nothing started in the background
 * and no network beyond the page's own server.
 */
export async function launchBrowser(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<BrowserSession> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`${CHROMIUM_PATH} not found and MLP_BROWSER_REQUIRED=1: install chromium`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'mlp-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: options.viewport ?? { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A full-page screenshot under test-artifacts/screenshots/, for a reviewer to look at. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * Builds the web app into a folder of its own (a server is pointed at it with
 * MLPIPELINE_WEB_ROOT), so tests neither need `npm run build` first nor race
 * each other over dist/web.
 */
export async function buildWebApp(): Promise<string> {
  const outDir = mkdtempSync(join(tmpdir(), 'mlp-web-'));
  await promisify(execFile)(
    process.execPath,
    [
      join(root, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--config',
      join(root, 'ui', 'web', 'vite.config.ts'),
      '--outDir',
      outDir,
      '--emptyOutDir',
      // Suites build at the same time, each into its own folder: Vite's
      // one-build-per-project lock would refuse the second for nothing.
      '--bypass-lock',
      '--logLevel',
      'error',
    ],
    { cwd: root },
  );
  return outDir;
}

/** Messages the page logged as errors, and uncaught exceptions: a page test expects none. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}

// What a test asks the page itself. Written as text: the page's DOM types are
// not part of this Node program.

/**
 * What makes the page wider than the window: elements (scroll boxes, but not
 * what they scroll) past its right edge, or "document" when the page scrolls
 * sideways for another reason (an absolutely placed element, say).
 */
export async function elementsWiderThanWindow(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const root = document.documentElement;
    const width = root.clientWidth;
    const wide = [...document.querySelectorAll('main *')]
      .filter((e) => e.getBoundingClientRect().right > width + 1)
      .filter((e) => !e.parentElement.closest('.table-scroll, .log, .visually-hidden, table.cards thead'))
      .map((e) => e.tagName.toLowerCase() + '.' + e.className)
      .slice(0, 5);
    if (wide.length === 0 && root.scrollWidth > width) wide.push('document');
    return wide;
  })()`);
}

/** The text of the element that has the keyboard focus. */
export async function focusedText(page: Page): Promise<string> {
  return page.evaluate<string>('document.activeElement?.textContent ?? ""');
}

/** Marks the page; the mark survives anything but a reload or a new page. */
export async function markPage(page: Page): Promise<void> {
  await page.evaluate('window.mlpTestMark = true');
}

export async function pageIsMarked(page: Page): Promise<boolean> {
  return page.evaluate<boolean>('window.mlpTestMark === true');
}
