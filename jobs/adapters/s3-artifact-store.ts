/**
 * Run artifacts and model versions in an S3 bucket, under one prefix, on AWS
 * or on an S3-compatible server (MinIO and the like).
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { UserError } from '../../core/errors.js';
import type { ArtifactStore } from '../../core/ports.js';
import { checkArtifactKey, checkArtifactPrefix } from './artifact-keys.js';

export interface S3ArtifactStoreOptions {
  bucket: string;
  /** '' or a path ending in '/', such as 'iris/'. */
  prefix?: string;
  region?: string;
  /** An S3-compatible server's URL; path-style addressing is then used. */
  endpoint?: string;
  /**
   * Explicit keys; by default the SDK's chain (AWS_ACCESS_KEY_ID and friends,
   * a profile, the ECS task role, IRSA on EKS).
   */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * A client to share, made with s3Client(): one per endpoint and region serves
   * any number of stores, where a client each costs a process with many stores
   * (the controller reads every pipeline's store) hundreds of kilobytes apiece.
   * A shared client is not destroyed by close().
   */
  client?: S3Client;
}

const DEFAULT_REGION = 'us-east-1';

export class S3ArtifactStore implements ArtifactStore {
  readonly location: string;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #where: string;

  constructor(options: S3ArtifactStoreOptions) {
    const prefix = options.prefix ?? '';
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new UserError(`S3 prefix "${prefix}" must end with /`);
    }
    if (prefix !== '') checkArtifactPrefix(prefix);
    if (!options.bucket) throw new UserError('S3 bucket is required');

    this.#bucket = options.bucket;
    this.#prefix = prefix;
    this.location = `s3://${options.bucket}/${prefix}`;
    this.#where = options.endpoint
      ? `at ${options.endpoint}`
      : `in ${options.region ?? 'the default region'}`;

    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? s3Client(options);
  }

  async put(key: string, body: Buffer | string): Promise<void> {
    const objectKey = this.#key(key);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    try {
      await this.#client.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: objectKey,
          Body: bytes,
          ContentLength: bytes.length,
          ContentType: contentTypeOf(key),
        }),
      );
    } catch (err) {
      throw this.#error(err, `write s3://${this.#bucket}/${objectKey}`);
    }
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.#key(key);
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
    } catch (err) {
      throw this.#error(err, `delete s3://${this.#bucket}/${objectKey}`);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const objectKey = this.#key(key);
    try {
      const result = await this.#client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey }),
      );
      if (!result.Body) return Buffer.alloc(0);
      return Buffer.from(await result.Body.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.#error(err, `read s3://${this.#bucket}/${objectKey}`);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const fullPrefix = this.#prefix + checkArtifactPrefix(prefix);
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#bucket,
            Prefix: fullPrefix,
            ContinuationToken: token,
          }),
        );
        for (const object of page.Contents ?? []) {
          if (object.Key !== undefined) keys.push(object.Key.slice(this.#prefix.length));
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (err) {
      throw this.#error(err, `list s3://${this.#bucket}/${fullPrefix}`);
    }
    return keys.sort();
  }

  async check(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.#bucket }));
    } catch (err) {
      throw this.#error(err, `reach bucket ${this.#bucket}`);
    }
  }

  /** Releases the client's sockets. */
  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  #key(key: string): string {
    return this.#prefix + checkArtifactKey(key);
  }

  #error(err: unknown, doing: string): Error {
    return new Error(`S3 ${this.#where}: cannot ${doing}: ${describeS3Error(err)}`, { cause: err });
  }
}

/** A client as a store makes it, for stores to share (S3ArtifactStoreOptions.client). */
export function s3Client(
  options: Pick<S3ArtifactStoreOptions, 'region' | 'endpoint' | 'credentials'>,
): S3Client {
  return new S3Client(s3ClientConfig(options));
}

/** The client settings the store uses; exported so tests can stream with them. */
export function s3ClientConfig(
  options: Pick<S3ArtifactStoreOptions, 'region' | 'endpoint' | 'credentials'>,
): S3ClientConfig {
  const config: S3ClientConfig = {
    region: options.region ?? process.env.AWS_REGION ?? DEFAULT_REGION,
  };
  if (options.credentials) config.credentials = options.credentials;
  if (options.endpoint) {
    config.endpoint = options.endpoint;
    config.forcePathStyle = true;
    // With the SDK's default checksums, a streamed upload is sent aws-chunked
    // with a trailing checksum; S3-compatible servers that do not decode that
    // framing store it inside the object and still answer 200. Checksums only
    // where the API requires them keep the body as sent.
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  return config;
}

/**
 * The SDK's own words, plus the HTTP status: a HEAD request has no body, so
 * errors such as 403 and 404 on HeadBucket arrive with an empty message.
 */
function describeS3Error(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const parts = [err.name];
  if (err.message && err.message !== err.name && err.message !== 'UnknownError')
    parts.push(err.message);
  if (status !== undefined) parts.push(`(HTTP ${status})`);
  return parts.join(': ').replace(': (HTTP', ' (HTTP');
}

function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // Also a 404, but a missing bucket is a configuration error, not a missing object.
  if (err.name === 'NoSuchBucket') return false;
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || status === 404;
}

function contentTypeOf(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.csv')) return 'text/csv';
  return 'application/octet-stream';
}
