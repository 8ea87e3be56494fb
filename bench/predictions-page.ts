/**
 * How fast the predictions view pages through 1,000,000 stored predictions:
 * the HTTP API's GET /api/pipelines/:name/predictions (the view's only
 * request), served by the single-container backend on SQLite and on MariaDB,
 * at the first page, deep pages and with each filter the view offers.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createLogger } from '../core/log.js';
import type { PredictionRow, ResultsStore } from '../core/ports.js';
import { parseMysqlUrl } from '../jobs/adapters/mysql-config.js';
import { MysqlResultsStore } from '../jobs/adapters/mysql-results-store.js';
import { SqliteResultsStore } from '../jobs/adapters/sqlite-results-store.js';
import { createApiApp } from '../ui/server/app.js';
import type { PipelineService } from '../ui/server/service.js';
import { startMariaDb, testInfraDir } from '../test/infra/mariadb.js';

const TABLE = 'predictions';
const PIPELINE = 'bench';
const RUNS = 10;
const ROWS_PER_RUN = 100_000;
const TOTAL = RUNS * ROWS_PER_RUN;
const LABELS = ['setosa', 'versicolor', 'virginica'];
const REPEATS = 7;
const TARGET_MS = 300;

/** Label of row i of run `run`, as fill() writes it. */
const labelOf = (run: number, i: number) => LABELS[(i * 7 + run) % LABELS.length]!;
const VERSICOLOR_ROWS = Array.from({ length: RUNS }, (_, run) =>
  Array.from({ length: ROWS_PER_RUN }, (_, i) => labelOf(run, i)).filter((l) => l === 'versicolor'),
).reduce((sum, rows) => sum + rows.length, 0);

const QUERIES: [what: string, query: string][] = [
  ['first page', 'limit=50'],
  ['page 10', 'limit=50&offset=450'],
  ['middle page (offset 500,000)', 'limit=50&offset=500000'],
  ['last page', `limit=50&offset=${TOTAL - 50}`],
  ['one run', 'limit=50&runId=bench-run-05'],
  ['one label', 'limit=50&label=versicolor'],
  ['one label, last page', `limit=50&label=versicolor&offset=${VERSICOLOR_ROWS - 50}`],
  ['one model version', 'limit=50&modelVersion=v3'],
  ['label and model version, page 100', 'limit=50&label=setosa&modelVersion=v7&offset=4950'],
];

export async function benchPredictionsPage(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mlp-bench-page-'));
  const mariadb = await startMariaDb({ dir: testInfraDir('mariadb-bench') });
  const stores: [string, ResultsStore][] = [
    ['SQLite', new SqliteResultsStore(join(dir, 'results.db'))],
    ['MariaDB', new MysqlResultsStore(parseMysqlUrl(mariadb.url))],
  ];
  const lines: string[] = [];
  try {
    const results = new Map<string, Map<string, number>>();
    for (const [name, store] of stores) {
      await store.init();
      await fill(store);
      results.set(name, await measure(store));
    }
    lines.push(
      '## Predictions view: paging 1,000,000 rows',
      '',
      `${RUNS} runs of ${ROWS_PER_RUN.toLocaleString('en-US')} predictions (3 labels, a model version per run) ` +
        'in the results store; each figure is the median time of ' +
        `${REPEATS} GET /api/pipelines/${PIPELINE}/predictions requests (50 rows and the filtered total) ` +
        'through the HTTP API, as the predictions view sends them.',
      '',
      `| request | ${stores.map(([name]) => name).join(' | ')} | target |`,
      `|---|${stores.map(() => '---|').join('')}---|`,
      ...QUERIES.map(
        ([what]) =>
          `| ${what} | ${stores.map(([name]) => `${results.get(name)!.get(what)!.toFixed(1)} ms`).join(' | ')} | under ${TARGET_MS} ms |`,
      ),
      '',
    );
  } finally {
    for (const [, store] of stores) await store.close();
    await mariadb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return lines.join('\n');
}

async function fill(store: ResultsStore): Promise<void> {
  for (let run = 0; run < RUNS; run++) {
    const id = String(run).padStart(2, '0');
    const rows: PredictionRow[] = Array.from({ length: ROWS_PER_RUN }, (_, i) => {
      const label = labelOf(run, i);
      const p = 0.5 + (i % 500) / 1000;
      const rest = (1 - p) / 2;
      return {
        rowKey: String(i + 1),
        label,
        probability: p,
        probabilities: Object.fromEntries(LABELS.map((l) => [l, l === label ? p : rest])),
      };
    });
    await store.replacePredictions(TABLE, {
      pipeline: PIPELINE,
      runId: `bench-run-${id}`,
      modelVersion: `v${run}`,
      scoredAt: new Date(Date.UTC(2026, 11, 4, 15, run * 2)),
      rows,
    });
  }
}

/** Only what the predictions route reads; everything else is not served here. */
function predictionsOnly(store: ResultsStore): PipelineService {
  const refuse = () => Promise.reject(new Error('not part of this benchmark'));
  return {
    mode: 'standalone',
    queryPredictions: (pipeline, query) => store.queryPredictions(TABLE, { ...query, pipeline }),
    listPipelines: refuse,
    getPipeline: refuse,
    listRuns: refuse,
    getRun: refuse,
    listModels: refuse,
    getModel: refuse,
    predict: refuse,
    runNow: refuse,
    setSuspended: refuse,
    stageLogs: refuse,
    checkConnections: refuse,
    subscribe: () => () => undefined,
  };
}

async function measure(store: ResultsStore): Promise<Map<string, number>> {
  const app = createApiApp({
    service: predictionsOnly(store),
    log: createLogger({ level: 'silent' }),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/pipelines/${PIPELINE}/predictions`;
  const out = new Map<string, number>();
  try {
    for (const [what, query] of QUERIES) {
      const times: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        const started = performance.now();
        const reply = await fetch(`${base}?${query}`);
        const body = (await reply.json()) as { total: number; rows: unknown[] };
        times.push(performance.now() - started);
        if (!reply.ok || body.rows.length === 0 || body.total === 0) {
          throw new Error(`${what}: ${reply.status} ${JSON.stringify(body).slice(0, 200)}`);
        }
      }
      times.sort((a, b) => a - b);
      out.set(what, times[Math.floor(times.length / 2)]!);
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await benchPredictionsPage());
}
