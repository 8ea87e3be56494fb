import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import {
  browserSkipReason,
  buildWebApp,
  collectPageErrors,
  elementsWiderThanWindow,
  focusedText,
  launchBrowser,
  markPage,
  pageIsMarked,
  saveScreenshot,
  type BrowserSession,
} from './browser.js';
import { writePipelineFile } from '../fixtures/pipeline-file.js';
import { startStandaloneServer, type StandaloneServer } from './standalone-server.js';

const TOKEN = 'browser-test-token';
const skip = browserSkipReason();

/**
 * examples/iris.yaml, with its schedule moved to once a year: the runs the test
 * sees are the ones it starts, whatever the time it runs at.
 */
function irisPipelineFile(dir = mkdtempSync(join(tmpdir(), 'mlp-browser-'))): string {
  const example = fileURLToPath(new URL('../../examples/iris.yaml', import.meta.url));
  const text = readFileSync(example, 'utf8').replace(/schedule: '[^']+'/, "schedule: '0 0 1 1 *'");
  assert.match(text, /schedule: '0 0 1 1 \*'/);
  const file = join(dir, 'iris.yaml');
  writeFileSync(file, text);
  return file;
}

describe('the web app in single-container mode', { skip }, () => {
  let server: StandaloneServer;
  let session: BrowserSession;
  let page: Page;
  let errors: string[];
  let webRoot: string;

  before(async () => {
    // The browser first: without it (and MLP_BROWSER_REQUIRED=1) the suite fails at once.
    session = await launchBrowser();
    webRoot = await buildWebApp();
    server = await startStandaloneServer({
      pipelineFile: irisPipelineFile(),
      token: TOKEN,
      webRoot,
    });
    page = await session.context.newPage();
    page.setDefaultTimeout(20_000);
    errors = collectPageErrors(page);
  });

  after(async () => {
    await session?.close();
    await server?.stop();
    if (webRoot) rmSync(webRoot, { recursive: true, force: true });
  });

  it('lists the pipeline with its schedule in words', async () => {
    await page.goto(server.address);
    const row = page.locator('tr[data-pipeline="iris"]');
    await row.waitFor();
    assert.match(await row.innerText(), /At 00:00, on day 1 of the month, only in January/);
    assert.match(await row.innerText(), /0 0 1 1 \*/);
    assert.match(await row.innerText(), /no runs yet/);
    assert.match(await row.innerText(), /none promoted yet/);
    await saveScreenshot(page, 'pipelines-before-run');
  });

  it('refuses a wrong token in words, then runs now and shows the run finish live', async () => {
    await page.getByRole('link', { name: 'iris', exact: true }).click();
    await page.getByText('No runs yet').waitFor();
    await markPage(page);

    await page.getByRole('button', { name: 'Run now' }).click();
    await page.getByLabel('Token', { exact: true }).fill('wrong-token');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByText('Not allowed: the API token is not valid.').waitFor();

    await page.getByRole('button', { name: 'Run now' }).click();
    await page.getByLabel('Token', { exact: true }).fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByText(/Run iris-manual-\d{14}-[a-z0-9]{4} started\./).waitFor();

    await page.locator('.timeline li[data-phase="Succeeded"]').waitFor({ timeout: 60_000 });
    await page.locator('.stage-graph .phase-succeeded').nth(3).waitFor();
    assert.ok(await pageIsMarked(page), 'the run appeared and finished without a reload');
    assert.equal(await page.locator('.stage-graph .phase-succeeded').count(), 4);

    // A second run: a second model version on the chart.
    await page.getByRole('button', { name: 'Run now' }).click();
    await page.locator('.timeline li[data-phase="Succeeded"]').nth(1).waitFor({ timeout: 60_000 });
    await page.locator('.chart .point').nth(1).waitFor();
  });

  it('shows the figures, a stage log, the metric chart and the confusion matrix', async () => {
    await page.getByRole('button', { name: 'Show the log of train' }).click();
    const log = page.getByRole('log');
    await log.getByText('stage succeeded').waitFor();
    assert.match(await page.locator('.stage-table').innerText(), /150 rows read/);
    await page.locator('.chart .point.promoted').first().waitFor();
    await page.getByText(/Promoted:/).waitFor();
    const matrix = page.getByRole('table', { name: /Confusion matrix/ });
    await matrix.waitFor();
    assert.match(await matrix.innerText(), /setosa/);
    await saveScreenshot(page, 'pipeline');
  });

  it('pages and filters predictions on the server', async () => {
    await page.getByRole('link', { name: 'Predictions', exact: true }).click();
    await page.getByText('Rows 1–50 of 300').waitFor();
    await saveScreenshot(page, 'predictions');
    await page.getByRole('link', { name: 'Next →' }).click();
    await page.getByText('Rows 51–100 of 300').waitFor();
    assert.match(page.url(), /page=2/);

    const runs = page.locator('select[name="runId"]');
    const newest = await runs.locator('option').nth(1).getAttribute('value');
    await runs.selectOption(newest ?? '');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Rows 1–50 of 150').waitFor();
    await page.getByRole('link', { name: 'Next →' }).click();
    await page.getByRole('link', { name: 'Next →' }).click();
    await page.getByText('Rows 101–150 of 150').waitFor();
    assert.equal(await page.locator('table.predictions tbody tr').count(), 50);
    const shownRuns = await page.locator('table.predictions tbody td:nth-child(4)').allInnerTexts();
    assert.ok(shownRuns.every((r) => r === newest));

    await page.getByLabel('Label').selectOption('setosa');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Rows 1–50 of 50').waitFor();
    const labels = await page.locator('table.predictions tbody td:nth-child(2)').allInnerTexts();
    assert.ok(labels.every((l) => l === 'setosa'));

    await page.locator('table.predictions tbody td:nth-child(5) a').first().click();
    await page.getByRole('heading', { name: /^Version v/ }).waitFor();
  });

  it('predicts from the form, and explains missing and non-numeric values', async () => {
    await page.goto(`${server.address}pipelines/iris/predict`);
    await page.getByLabel('sepal_length').fill('5.1');
    await page.getByLabel('sepal_width').fill('3.5');
    await page.getByLabel('petal_length').fill('1.4');
    await page.getByLabel('petal_width').fill('0.2');
    await page.getByRole('button', { name: 'Predict' }).click();
    await page.getByTestId('predicted-label').waitFor();
    assert.equal(await page.getByTestId('predicted-label').innerText(), 'setosa');
    assert.equal(
      await page.getByRole('list', { name: 'Class probabilities' }).locator('li').count(),
      3,
    );
    await saveScreenshot(page, 'predict');

    await page.getByLabel('sepal_length').fill('');
    await page.getByLabel('petal_width').fill('abc');
    await page.getByRole('button', { name: 'Predict' }).click();
    await page.getByText('Enter a value for sepal_length.').waitFor();
    await page.getByText('petal_width: “abc” is not a number.').waitFor();
    assert.equal(await page.getByTestId('predicted-label').count(), 0);
    await saveScreenshot(page, 'predict-errors');
  });

  it('checks the connections', async () => {
    await page.getByRole('link', { name: 'Connections' }).click();
    const database = page.locator('li[data-connection="results database"]');
    await database.waitFor();
    assert.match(await database.innerText(), /reachable/);
    assert.match(await database.innerText(), /\d+ ms/);
    await saveScreenshot(page, 'connections');
  });

  it('suspends and resumes, and the list shows it live', async () => {
    await page.goto(`${server.address}pipelines/iris`);
    await page.getByRole('button', { name: 'Suspend' }).click();
    await page.getByText('Suspended: no scheduled runs.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Run now' }).isDisabled(), true);

    const list = await session.context.newPage();
    await list.goto(server.address);
    await list.locator('tr[data-pipeline="iris"] .badge.suspended').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByText('Resumed.').waitFor();
    await list.locator('tr[data-pipeline="iris"] .badge.suspended').waitFor({ state: 'detached' });
    await saveScreenshot(list, 'pipelines');
    await list.close();
  });

  it('fits a narrow window and can be used from the keyboard', async () => {
    const narrow = await session.context.newPage();
    await narrow.setViewportSize({ width: 390, height: 844 });
    for (const [path, name] of [
      ['', 'narrow-pipelines'],
      ['pipelines/iris', 'narrow-pipeline'],
      ['pipelines/iris/predict', 'narrow-predict'],
    ] as const) {
      await narrow.goto(server.address + path);
      await narrow.locator('main h1').waitFor();
      await narrow.waitForLoadState('networkidle').catch(() => undefined);
      await saveScreenshot(narrow, name);
      const wide = await elementsWiderThanWindow(narrow);
      assert.deepEqual(wide, [], `${path || '/'} is wider than the window`);
    }
    await narrow.close();

    await page.goto(server.address);
    await page.locator('tr[data-pipeline="iris"]').waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await focusedText(page), 'Skip to content');
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await focusedText(page)) === 'iris';
    }
    assert.ok(reached, 'the pipeline link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^iris/ }).waitFor();
  });

  it('logged no errors in the page but the refused token', () => {
    const unexpected = errors.filter((e) => !/status of 403 \(Forbidden\)/.test(e));
    assert.deepEqual(unexpected, []);
  });
});

describe('the web app without an API token, with a model store it cannot reach', { skip }, () => {
  let server: StandaloneServer;
  let session: BrowserSession;
  let page: Page;
  let webRoot: string;

  before(async () => {
    // The browser first: without it (and MLP_BROWSER_REQUIRED=1) the suite fails at once.
    session = await launchBrowser();
    webRoot = await buildWebApp();
    const dir = mkdtempSync(join(tmpdir(), 'mlp-browser-'));
    irisPipelineFile(dir);
    // Port 9 on 127.0.0.1: nothing listens, so the store's check fails at once.
    writePipelineFile(
      'far',
      [
        "  schedule: '0 0 1 1 *'",
        '  modelStore: { s3: { bucket: models, endpoint: "http://127.0.0.1:9", region: us-east-1 } }',
      ].join('\n'),
      dir,
    );
    server = await startStandaloneServer({
      pipelineFile: dir,
      webRoot,
      env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1' },
    });
    page = await session.context.newPage();
    page.setDefaultTimeout(20_000);
  });

  after(async () => {
    await session?.close();
    await server?.stop();
    if (webRoot) rmSync(webRoot, { recursive: true, force: true });
  });

  it('offers no actions and says why', async () => {
    await page.goto(`${server.address}pipelines/iris`);
    await page.getByText('Read-only: the server has no API token').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Run now' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Suspend' }).count(), 0);
    await page.locator('header .readonly').waitFor();
  });

  it('shows which connection fails, with the exact error', async () => {
    await page.getByRole('link', { name: 'Connections' }).click();
    const far = page.locator('li[data-connection="model store of far"]');
    await far.waitFor();
    assert.match(await far.innerText(), /unreachable/);
    assert.match(await far.locator('.conn-error').innerText(), /\S/);
    assert.match(
      await page.locator('li[data-connection="results database"]').innerText(),
      /reachable/,
    );
    await saveScreenshot(page, 'connections-failing');
  });
});
