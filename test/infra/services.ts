/**
 * Starts what the integration tests need, a MariaDB and an S3-compatible
 * server, both on 127.0.0.1, and hands their coordinates over as environment
 * variables (read in tests through test/infra/env.ts).
 */
import { mariaDbInstalled, startMariaDb } from './mariadb.js';
import { startS3Server } from './s3.js';

export interface TestServices {
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startServices(): Promise<TestServices> {
  if (!mariaDbInstalled()) {
    throw new Error(
      'MariaDB is not installed: run test/infra/install.sh as root once, then npm test again',
    );
  }

  const [mariadb, s3] = await Promise.allSettled([startMariaDb(), startS3Server()]);
  if (mariadb.status === 'rejected' || s3.status === 'rejected') {
    // Whichever did start is stopped, so a failed start leaves nothing behind.
    await Promise.allSettled([
      mariadb.status === 'fulfilled' ? mariadb.value.stop() : undefined,
      s3.status === 'fulfilled' ? s3.value.stop() : undefined,
    ]);
    const failed = mariadb.status === 'rejected' ? mariadb : (s3 as PromiseRejectedResult);
    throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }

  const db = mariadb.value;
  const objects = s3.value;
  return {
    env: {
      MLP_TEST_MYSQL_URL: db.url,
      MLP_TEST_S3_ENDPOINT: objects.endpoint,
      MLP_TEST_S3_ACCESS_KEY_ID: objects.accessKeyId,
      MLP_TEST_S3_SECRET_ACCESS_KEY: objects.secretAccessKey,
      MLP_TEST_S3_REGION: objects.region,
    },
    async stop() {
      const results = await Promise.allSettled([db.stop(), objects.stop()]);
      for (const result of results) {
        if (result.status === 'rejected') throw result.reason;
      }
    },
  };
}
