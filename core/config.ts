import { resolve } from 'node:path';
import { UserError } from './errors.js';

/**
 * The deployment's own settings, from the environment (ECS injects Secrets
 * Manager values as variables; Kubernetes mounts Secrets the same way).
 */
export interface DeploymentConfig {
  /** Embedded storage (SQLite, artifacts folder) lives here when nothing remote is set. */
  dataDir: string;
  /** Prefix of the variables holding the default database, or undefined for SQLite. */
  mysqlEnvPrefix?: 'MYSQL';
  s3?: { bucket: string; prefix: string; endpoint?: string; region?: string };
  host: string;
  port: number;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): DeploymentConfig {
  const hasMysql = ['URL', 'HOST'].some((part) => env[`MYSQL_${part}`]);
  const bucket = env.S3_BUCKET?.trim();
  const prefix = env.S3_PREFIX ?? '';
  if (prefix && !prefix.endsWith('/')) {
    throw new UserError(`S3_PREFIX: must end with "/" (got "${prefix}")`);
  }
  return {
    dataDir: resolve(env.MLPIPELINE_DATA_DIR ?? 'data'),
    mysqlEnvPrefix: hasMysql ? 'MYSQL' : undefined,
    s3: bucket
      ? {
          bucket,
          prefix,
          endpoint: env.S3_ENDPOINT || undefined,
          region: env.S3_REGION || env.AWS_REGION || undefined,
        }
      : undefined,
    host: env.HOST ?? '127.0.0.1',
    port: parsePort(env.PORT ?? '8080'),
  };
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UserError(`PORT: must be a whole number from 0 to 65535 (got "${value}")`);
  }
  return port;
}

/**
 * The documented rule that lets one pipeline file serve both modes: a Secret
 * named `rds-prod` is read, in one container, from variables starting with
 * `RDS_PROD_` (RDS_PROD_URL, or RDS_PROD_HOST, _PORT, _USER, _PASSWORD,
 * _DATABASE). In Kubernetes the Secret is mounted with the same prefix.
 */
export function secretEnvPrefix(secretName: string): string {
  return secretName.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
