import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { testS3 } from '../../test/infra/env.js';
import { artifactStoreSuite } from './artifact-store-suite.js';
import {
  S3ArtifactStore,
  s3Client,
  s3ClientConfig,
  type S3ArtifactStoreOptions,
} from './s3-artifact-store.js';

const bucket = `mlp-test-${randomBytes(4).toString('hex')}`;
const stores: S3ArtifactStore[] = [];

function newStore(overrides: Partial<S3ArtifactStoreOptions> = {}): S3ArtifactStore {
  const s3 = testS3();
  const store = new S3ArtifactStore({
    bucket,
    prefix: `p-${randomBytes(4).toString('hex')}/`,
    region: s3.region,
    endpoint: s3.endpoint,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    ...overrides,
  });
  stores.push(store);
  return store;
}

before(async () => {
  const s3 = testS3();
  const client = new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  client.destroy();
});

after(() => {
  for (const store of stores) store.close();
});

artifactStoreSuite('S3', {
  open: () => Promise.resolve(newStore()),
});

describe('S3 artifact store', () => {
  it('with its client settings, a streamed multi-MB upload reads back byte for byte', async () => {
    // put() sends Buffers, which the SDK never frames; a stream is what an
    // S3-compatible server can store with aws-chunked framing inside it.
    const s3 = testS3();
    const client = new S3Client(
      s3ClientConfig({
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      }),
    );
    try {
      const data = randomBytes(3 * 1024 * 1024 + 11);
      const body = Readable.from([data.subarray(0, 1_000_000), data.subarray(1_000_000)]);
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'streamed',
          Body: body,
          ContentLength: data.length,
        }),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: 'streamed' }));
      const back = Buffer.from(await got.Body!.transformToByteArray());
      assert.equal(back.length, data.length);
      assert.ok(back.equals(data));
    } finally {
      client.destroy();
    }
  });

  it('names its location s3://bucket/prefix', () => {
    const store = newStore({ prefix: 'iris/' });
    assert.equal(store.location, `s3://${bucket}/iris/`);
  });

  it('keeps stores with different prefixes in one bucket apart', async () => {
    const a = newStore();
    const b = newStore();
    await a.put('models/current.json', 'a');
    assert.equal(await b.get('models/current.json'), undefined);
    assert.deepEqual(await b.list(''), []);
    assert.deepEqual(await a.list(''), ['models/current.json']);
  });

  it('stores sharing one client stay apart, and closing one leaves the client to the others', async () => {
    const s3 = testS3();
    const client = s3Client({
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    try {
      const a = newStore({ client });
      const b = newStore({ client });
      await a.put('models/current.json', 'a');
      assert.equal(await b.get('models/current.json'), undefined);
      a.close();
      await b.put('models/current.json', 'b');
      assert.equal((await b.get('models/current.json'))?.toString(), 'b');
    } finally {
      client.destroy();
    }
  });

  it('works with no prefix at all', async () => {
    const store = newStore({ prefix: '' });
    const key = `top-${randomBytes(4).toString('hex')}`;
    await store.put(key, 'x');
    assert.ok((await store.list('top-')).includes(key));
  });

  it('refuses a prefix that does not end with a slash', () => {
    assert.throws(() => newStore({ prefix: 'iris' }), /must end with \//);
  });

  it('fails, naming bucket and key, when the bucket does not exist', async () => {
    const store = newStore({ bucket: 'no-such-bucket-here', prefix: 'x/' });
    await assert.rejects(
      store.check(),
      /cannot reach bucket no-such-bucket-here: NotFound.*HTTP 404/,
    );
    await assert.rejects(
      store.get('models/current.json'),
      /cannot read s3:\/\/no-such-bucket-here\/x\/models\/current\.json: NoSuchBucket/,
    );
    await assert.rejects(store.put('a', 'b'), /cannot write s3:\/\/no-such-bucket-here\/x\/a/);
  });

  it('reports the server’s answer when the credentials are wrong', async () => {
    // s3rver checks the key id but not SigV4 signatures, so the wrong part
    // here is the key id.
    const store = newStore({ credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'x' } });
    await assert.rejects(store.put('a', 'b'), /cannot write .*InvalidAccessKeyId/);
    await assert.rejects(store.check(), /cannot reach bucket .*HTTP 403/);
  });

  it('takes credentials from the environment when none are given', async () => {
    const s3 = testS3();
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    try {
      const store = new S3ArtifactStore({
        bucket,
        prefix: 'env/',
        region: s3.region,
        endpoint: s3.endpoint,
      });
      stores.push(store);
      await store.put('k', 'v');
      assert.equal((await store.get('k'))?.toString(), 'v');
    } finally {
      restore('AWS_ACCESS_KEY_ID', saved.id);
      restore('AWS_SECRET_ACCESS_KEY', saved.secret);
    }
  });
});

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
