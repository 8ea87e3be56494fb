/**
 * What the integration tests read to reach the services that scripts/test.mjs
 * started for them.
 */

export interface TestS3 {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: integration tests need the services that npm test starts; ` +
        'run them through npm test (for example: npm test -- jobs/adapters)',
    );
  }
  return value;
}

export function testMysqlUrl(): string {
  return required('MLP_TEST_MYSQL_URL');
}

export function testS3(): TestS3 {
  return {
    endpoint: required('MLP_TEST_S3_ENDPOINT'),
    accessKeyId: required('MLP_TEST_S3_ACCESS_KEY_ID'),
    secretAccessKey: required('MLP_TEST_S3_SECRET_ACCESS_KEY'),
    region: required('MLP_TEST_S3_REGION'),
  };
}
