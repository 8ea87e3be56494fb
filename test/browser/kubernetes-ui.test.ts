/**
 * The web app in Kubernetes mode: `mlpipeline ui` serving a real control
 * plane (test/cluster/ui-cluster.ts: the controller, the local kubelet
 * running stage pods, MariaDB, S3), driven in Debian's Chromium. It opens the
 * pipelines view and the Iris pipeline, runs it now with the token and sees
 * the run finish without a reload, reads a stage log from its pod, and checks
 * the connections view names the API server.
 *
 * Skipped when Chromium is missing (unless MLP_BROWSER_REQUIRED=1), or when
 * the control-plane binaries are missing (unless MLP_CLUSTER_REQUIRED=1).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { Page } from 'playwright-core';

import { localClusterSkip } from '../cluster/api-client.js';
import { irisManifest } from '../cluster/iris-example.js';
import { startUiCluster, type UiCluster } from '../cluster/ui-cluster.js';
import {
  browserSkipReason,
  buildWebApp,
  collectPageErrors,
  launchBrowser,
  markPage,
  pageIsMarked,
  saveScreenshot,
  type BrowserSession,
} from './browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'kubernetes-browser-token';
const RUN_TIMEOUT_MS = 3 * 60_000;

describe(
  'the web app in Kubernetes mode',
  { skip: browserSkipReason() ?? localClusterSkip, timeout: 600_000 },
  () => {
    let cluster: UiCluster | undefined;
    let session: BrowserSession | undefined;
    let page: Page;
    let errors: string[];
    let webRoot: string | undefined;

    before(async () => {
      webRoot = await buildWebApp();
      cluster = await startUiCluster({
        dir: join(ROOT, '.test-infra', 'kubernetes-ui'),
        namespace: 'mlp-ui-browser',
        database: 'mlp_ui_browser',
        apiToken: TOKEN,
        pipelines: [irisManifest('iris')],
        webRoot,
      });
      session = await launchBrowser();
      page = await session.context.newPage();
      page.setDefaultTimeout(20_000);
      errors = collectPageErrors(page);
    });

    after(async () => {
      await session?.close();
      await cluster?.stop();
      if (webRoot) rmSync(webRoot, { recursive: true, force: true });
    });

    it('lists the pipeline from its MLPipeline', async () => {
      await page.goto(`${cluster!.base}/`);
      const row = page.locator('tr[data-pipeline="iris"]');
      await row.waitFor();
      assert.match(await row.innerText(), /0 0 1 1 \*/);
      assert.match(await row.innerText(), /At 00:00, on day 1 of the month, only in January/);
      await saveScreenshot(page, 'kubernetes-pipelines');
    });

    it('runs now with the token and shows the four stage pods finish live', async () => {
      await page.getByRole('link', { name: 'iris', exact: true }).click();
      await page.getByRole('heading', { name: /^iris/ }).waitFor();
      await markPage(page);

      await page.getByRole('button', { name: 'Run now' }).click();
      await page.getByLabel('Token', { exact: true }).fill(TOKEN);
      await page.getByRole('button', { name: 'Use token' }).click();
      await page.getByText(/Run iris-manual-\d{14}-[a-z0-9]+ started\./).waitFor();

      await page
        .locator('.timeline li[data-phase="Succeeded"]')
        .waitFor({ timeout: RUN_TIMEOUT_MS });
      await page.locator('.stage-graph .phase-succeeded').nth(3).waitFor();
      assert.ok(await pageIsMarked(page), 'the run appeared and finished without a reload');
      assert.equal(await page.locator('.stage-graph .phase-succeeded').count(), 4);
      // Figures the stage pods left in the model store.
      await page.locator('.stage-table').getByText('150 rows read').waitFor();
      assert.match(await page.locator('.stage-table').innerText(), /150 rows written/);
      await saveScreenshot(page, 'kubernetes-pipeline');
    });

    it("shows a stage's log, read from its pod through the API server", async () => {
      await page.getByRole('button', { name: 'Show the log of train' }).click();
      await page.getByRole('log').getByText('stage succeeded').first().waitFor();
      await saveScreenshot(page, 'kubernetes-stage-log');
    });

    it('checks the connection to the API server', async () => {
      await page.getByRole('link', { name: 'Connections' }).click();
      const kubernetes = page.locator('li[data-connection="Kubernetes API"]');
      await kubernetes.waitFor();
      assert.match(await kubernetes.innerText(), /reachable/);
      assert.match(await kubernetes.innerText(), /\d+ ms/);
      await saveScreenshot(page, 'kubernetes-connections');
    });

    it('logged no errors in the page', () => {
      assert.deepEqual(errors, []);
    });
  },
);
