/**
 * An S3-compatible server (s3rver) for the integration tests, on 127.0.0.1 with
 * a free port and a folder of its own. Tests create their buckets through the
 * SDK, as they would on a real account.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface S3TestServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  stop(): Promise<void>;
}

// s3rver checks signatures against this one fixed key pair.
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';
const REGION = 'us-east-1';

export async function startS3Server(opts: { dir?: string } = {}): Promise<S3TestServer> {
  const ownDir = opts.dir === undefined;
  const directory = opts.dir ?? (await mkdtemp(join(tmpdir(), 'mlp-s3rver-')));

  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    // Virtual-host buckets would treat a host name as a bucket; clients here
    // use path-style addressing against a bare IP.
    vhostBuckets: false,
  });

  let address: AddressInfo;
  try {
    address = await server.run();
  } catch (err) {
    if (ownDir) await rm(directory, { recursive: true, force: true });
    throw new Error(`s3rver did not start: ${(err as Error).message}`);
  }

  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    region: REGION,
    async stop() {
      await server.close();
      if (ownDir) await rm(directory, { recursive: true, force: true });
    },
  };
}
