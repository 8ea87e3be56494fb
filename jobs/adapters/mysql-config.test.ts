import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeMysqlConfig, mysqlConfigFromEnv, parseMysqlUrl } from './mysql-config.js';

describe('parseMysqlUrl', () => {
  const cases: { name: string; url: string; want: ReturnType<typeof parseMysqlUrl> }[] = [
    {
      name: 'all parts',
      url: 'mysql://app:s3cret@db.example.com:3307/analytics',
      want: {
        host: 'db.example.com',
        port: 3307,
        user: 'app',
        password: 's3cret',
        database: 'analytics',
      },
    },
    {
      name: 'default port, no database, no password',
      url: 'mysql://app@db',
      want: { host: 'db', port: 3306, user: 'app' },
    },
    {
      name: 'percent-encoded user and password',
      url: 'mysql://a%40b:p%2Fw%3A%40x@db/d',
      want: { host: 'db', port: 3306, user: 'a@b', password: 'p/w:@x', database: 'd' },
    },
    {
      name: 'IPv6 host and TLS',
      url: 'mysql://u:p@[::1]:3306/d?ssl=true',
      want: { host: '::1', port: 3306, user: 'u', password: 'p', database: 'd', ssl: true },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(parseMysqlUrl(c.url), c.want));
  }

  const errors: [string, string, RegExp][] = [
    ['not a URL', 'db at port 3306', /MySQL URL: not a URL/],
    ['wrong scheme', 'postgres://u@h/d', /scheme must be mysql:\/\/, not postgres:/],
    ['no user', 'mysql://h/d', /MySQL URL user is required/],
    ['unknown parameter', 'mysql://u@h/d?timeout=5', /unknown parameter "timeout"/],
    ['bad ssl value', 'mysql://u@h/d?ssl=maybe', /ssl: "maybe" is not true or false/],
    ['nested path', 'mysql://u@h/d/e', /single database name/],
  ];
  for (const [name, url, want] of errors) {
    it(`rejects: ${name}`, () => assert.throws(() => parseMysqlUrl(url), want));
  }

  it('never repeats the password in an error', () => {
    assert.throws(
      () => parseMysqlUrl('mysql://u:hunter2@h:99999/d'),
      (err: Error) => !err.message.includes('hunter2') && /port/.test(err.message),
    );
  });
});

describe('mysqlConfigFromEnv', () => {
  it('returns undefined when nothing is set', () => {
    assert.equal(mysqlConfigFromEnv('RDS', { OTHER_URL: 'mysql://u@h/d' }), undefined);
  });

  it('reads the URL', () => {
    assert.deepEqual(mysqlConfigFromEnv('RDS', { RDS_URL: 'mysql://u:p@h:1/d' }), {
      host: 'h',
      port: 1,
      user: 'u',
      password: 'p',
      database: 'd',
    });
  });

  it('takes the password from its own variable next to a URL without one', () => {
    const config = mysqlConfigFromEnv('RDS', { RDS_URL: 'mysql://u@h/d', RDS_PASSWORD: 'p' });
    assert.equal(config?.password, 'p');
  });

  it('reads separate parts', () => {
    const env = {
      RDS_HOST: 'db.internal',
      RDS_PORT: '3307',
      RDS_USER: 'app',
      RDS_PASSWORD: 'p',
      RDS_DATABASE: 'analytics',
      RDS_SSL: 'true',
    };
    assert.deepEqual(mysqlConfigFromEnv('RDS', env), {
      host: 'db.internal',
      port: 3307,
      user: 'app',
      password: 'p',
      database: 'analytics',
      ssl: true,
    });
  });

  const errors: [string, Record<string, string>, RegExp][] = [
    [
      'a bad port names its variable',
      { RDS_HOST: 'h', RDS_USER: 'u', RDS_PORT: 'x' },
      /RDS_PORT: "x" is not a port/,
    ],
    ['a missing host names its variable', { RDS_USER: 'u' }, /RDS_HOST is required/],
    ['a missing user names its variable', { RDS_HOST: 'h' }, /RDS_USER is required/],
    ['a bad URL names its variable', { RDS_URL: 'http://h' }, /RDS_URL: scheme/],
    [
      'URL and parts together',
      { RDS_URL: 'mysql://u@h/d', RDS_HOST: 'h' },
      /RDS_URL and RDS_HOST are both set/,
    ],
    [
      'two passwords',
      { RDS_URL: 'mysql://u:a@h/d', RDS_PASSWORD: 'b' },
      /RDS_URL has a password and RDS_PASSWORD/,
    ],
    ['a bad SSL flag', { RDS_HOST: 'h', RDS_USER: 'u', RDS_SSL: 'si' }, /RDS_SSL: "si"/],
  ];
  for (const [name, env, want] of errors) {
    it(`rejects: ${name}`, () => assert.throws(() => mysqlConfigFromEnv('RDS', env), want));
  }
});

describe('describeMysqlConfig', () => {
  it('shows user, host, port and database, never the password', () => {
    const text = describeMysqlConfig(parseMysqlUrl('mysql://app:hunter2@db:3307/analytics'));
    assert.equal(text, 'app@db:3307/analytics');
  });
});
