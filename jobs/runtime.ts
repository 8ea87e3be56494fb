import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { builtinPath } from '../core/builtin-datasets.js';
import { secretEnvPrefix, type DeploymentConfig } from '../core/config.js';
import { messageOf, UserError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ArtifactStore, RawTable, ResultsStore } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import type { SourceSpec } from '../core/spec/types.generated.js';
import type { ConnectionCheck } from '../ui/server/service.js';
import { DirArtifactStore } from './adapters/dir-artifact-store.js';
import {
  describeMysqlConfig,
  mysqlConfigFromEnv,
  type MysqlConfig,
} from './adapters/mysql-config.js';
import type { MysqlPool } from './adapters/mysql-pool.js';
import type { S3ArtifactStoreOptions } from './adapters/s3-artifact-store.js';
import { SqliteResultsStore } from './adapters/sqlite-results-store.js';
import type { StageContext } from './stages/context.js';
import { parseCsv } from './sources/csv.js';

const DEFAULT_PREDICTIONS_TABLE = 'predictions';

/**
 * The thin layer that talks to the world: it turns the deployment's settings
 * and a pipeline's spec into stores and connections, opened once and shared by
 * every stage and run of this process.
 */
export interface Runtime {
  readonly config: DeploymentConfig;
  /** The deployment's own results database: run history, schedule state, default predictions. */
  readonly results: ResultsStore;
  artifactsFor(pipeline: Pipeline): ArtifactStore;
  predictionSinkFor(pipeline: Pipeline): Promise<{ store: ResultsStore; table: string }>;
  contextFor(pipeline: Pipeline, runId: string, log: Logger): StageContext;
  checkConnections(pipelines: Pipeline[]): Promise<ConnectionCheck[]>;
  close(): Promise<void>;
}

export async function createRuntime(
  config: DeploymentConfig,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Runtime> {
  const pools = new Map<string, MysqlPool>();
  const stores = new Map<string, ResultsStore>();
  const artifacts = new Map<string, ArtifactStore>();

  /** A connection by Secret name, or the deployment's own database. */
  function mysqlConfig(secretName: string | undefined, field: string): MysqlConfig {
    const prefix = secretName ? secretEnvPrefix(secretName) : config.mysqlEnvPrefix;
    const found = prefix ? mysqlConfigFromEnv(prefix, env) : undefined;
    if (found) return found;
    const variables = (p: string) =>
      `${p}_URL (or ${p}_HOST, ${p}_USER, ${p}_PASSWORD, ${p}_DATABASE)`;
    throw new UserError(
      secretName
        ? `${field}: connection secret "${secretName}" is not available: set ${variables(prefix!)}`
        : `${field}: no database is configured: set ${variables('MYSQL')}, or name a connectionSecretRef`,
    );
  }

  async function pool(secretName: string | undefined, field: string): Promise<MysqlPool> {
    const key = secretName ?? '';
    let found = pools.get(key);
    if (!found) {
      const config = mysqlConfig(secretName, field);
      const { createMysqlPool } = await import('./adapters/mysql-pool.js');
      found = pools.get(key) ?? createMysqlPool(config);
      pools.set(key, found);
    }
    return found;
  }

  async function mysqlStore(secretName: string | undefined, field: string): Promise<ResultsStore> {
    const key = secretName ?? '';
    let store = stores.get(key);
    if (!store) {
      const { MysqlResultsStore } = await import('./adapters/mysql-results-store.js');
      store = new MysqlResultsStore(await pool(secretName, field));
      await store.init();
      stores.set(key, store);
    }
    return store;
  }

  const results: ResultsStore = config.mysqlEnvPrefix
    ? await mysqlStore(undefined, 'MYSQL_URL')
    : new SqliteResultsStore(join(config.dataDir, 'results.db'));
  if (results.kind === 'sqlite') await results.init();
  log.info({ results: results.kind, artifacts: config.s3 ? 's3' : 'dir' }, 'storage ready');

  function artifactsFor(pipeline: Pipeline): ArtifactStore {
    let store = artifacts.get(pipeline.name);
    if (store) return store;
    const spec = pipeline.spec.modelStore;
    if (spec?.s3) {
      store = lazyS3Store({
        bucket: spec.s3.bucket,
        prefix: spec.s3.prefix ?? '',
        endpoint: spec.s3.endpoint ?? config.s3?.endpoint,
        region: spec.s3.region ?? config.s3?.region,
      });
    } else if (spec?.dir) {
      store = new DirArtifactStore(
        isAbsolute(spec.dir.path) ? spec.dir.path : resolve(pipeline.baseDir, spec.dir.path),
      );
    } else if (config.s3) {
      store = lazyS3Store({
        bucket: config.s3.bucket,
        prefix: `${config.s3.prefix}${pipeline.name}/`,
        endpoint: config.s3.endpoint,
        region: config.s3.region,
      });
    } else {
      store = new DirArtifactStore(join(config.dataDir, 'artifacts', pipeline.name));
    }
    artifacts.set(pipeline.name, store);
    return store;
  }

  async function predictionSinkFor(
    pipeline: Pipeline,
  ): Promise<{ store: ResultsStore; table: string }> {
    const sink = pipeline.spec.predict.sink?.mysql;
    const table = sink?.table ?? DEFAULT_PREDICTIONS_TABLE;
    if (!sink?.connectionSecretRef) return { store: results, table };
    return {
      store: await mysqlStore(sink.connectionSecretRef.name, 'spec.predict.sink.mysql'),
      table,
    };
  }

  async function readSource(pipeline: Pipeline, source: SourceSpec): Promise<RawTable> {
    if (source.builtin) {
      return parseCsv(
        await readFile(builtinPath(source.builtin), 'utf8'),
        `built-in data set ${source.builtin}`,
      );
    }
    if (source.csv) {
      const path = source.csv.path;
      if (path.startsWith('s3://')) {
        const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(path) ?? [];
        if (!bucket || !key)
          throw new UserError(`csv.path: "${path}" is not an s3://bucket/key address`);
        const store = lazyS3Store({
          bucket,
          prefix: '',
          endpoint: config.s3?.endpoint,
          region: config.s3?.region,
        });
        const bytes = await store.get(key).finally(() => store.close());
        if (!bytes) throw new UserError(`csv.path: ${path} does not exist`);
        return parseCsv(bytes.toString('utf8'), path);
      }
      const file = isAbsolute(path) ? path : resolve(pipeline.baseDir, path);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new UserError(`csv.path: cannot read ${file}: ${messageOf(error)}`);
      }
      return parseCsv(text, file);
    }
    const mysql = source.mysql!;
    const { readMysqlTable } = await import('./adapters/mysql-source.js');
    return readMysqlTable(await pool(mysql.connectionSecretRef?.name, 'source.mysql'), {
      table: mysql.table,
      keyColumn: mysql.keyColumn,
      batchSize: mysql.batchSize,
    });
  }

  return {
    config,
    results,
    artifactsFor,
    predictionSinkFor,
    contextFor(pipeline, runId, stageLog) {
      return {
        pipeline,
        runId,
        artifacts: artifactsFor(pipeline),
        readSource: (source) => readSource(pipeline, source),
        predictionSink: () => predictionSinkFor(pipeline),
        log: stageLog,
        now: () => new Date(),
      };
    },
    async checkConnections(pipelines) {
      const checks: { name: string; target: string; run: () => Promise<void> }[] = [
        {
          name: 'results database',
          target: describeResults(results, config),
          run: () => results.check(),
        },
        ...pipelines.map((p) => ({
          name: `model store of ${p.name}`,
          target: artifactsFor(p).location,
          run: () => artifactsFor(p).check(),
        })),
      ];
      return Promise.all(
        checks.map(async (c) => {
          const started = performance.now();
          try {
            await c.run();
            return {
              name: c.name,
              target: c.target,
              ok: true,
              latencyMs: Math.round(performance.now() - started),
            };
          } catch (error) {
            return {
              name: c.name,
              target: c.target,
              ok: false,
              latencyMs: Math.round(performance.now() - started),
              error: messageOf(error),
            };
          }
        }),
      );
    },
    async close() {
      await Promise.allSettled([...new Set([results, ...stores.values()])].map((s) => s.close()));
      await Promise.allSettled([...pools.values()].map((p) => p.end()));
      for (const store of artifacts.values()) (store as Partial<{ close(): void }>).close?.();
    },
  };
}

/**
 * The S3 client library takes a noticeable part of a second to load; a run
 * that never touches S3 (embedded storage) should not pay for it.
 */
function lazyS3Store(options: S3ArtifactStoreOptions): ArtifactStore & { close(): void } {
  let loaded: Promise<ArtifactStore & { close(): void }> | undefined;
  const store = () =>
    (loaded ??= import('./adapters/s3-artifact-store.js').then(
      (m) => new m.S3ArtifactStore(options),
    ));
  return {
    location: `s3://${options.bucket}/${options.prefix ?? ''}`,
    put: async (key, body) => (await store()).put(key, body),
    get: async (key) => (await store()).get(key),
    list: async (prefix) => (await store()).list(prefix),
    delete: async (key) => (await store()).delete(key),
    check: async () => (await store()).check(),
    close: () => void loaded?.then((s) => s.close()),
  };
}

function describeResults(results: ResultsStore, config: DeploymentConfig): string {
  if (results.kind === 'sqlite') return join(config.dataDir, 'results.db');
  const found = config.mysqlEnvPrefix ? mysqlConfigFromEnv(config.mysqlEnvPrefix) : undefined;
  return found ? describeMysqlConfig(found) : 'mysql';
}
