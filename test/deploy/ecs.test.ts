/**
 * The ECS task definition and its IAM policies, checked against the product
 * itself: the variables it reads (recorded while core/config.ts and the MySQL
 * settings read them), the port it listens on, the S3 requests its model store
 * sends, and a health check command that is run against a real
 * single-container process.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { configFromEnv } from '../../core/config.js';
import { mysqlConfigFromEnv } from '../../jobs/adapters/mysql-config.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ECS = join(ROOT, 'deploy', 'ecs');

interface NameValue {
  name: string;
  value?: string;
  valueFrom?: string;
}

interface ContainerDefinition {
  name: string;
  image: string;
  essential?: boolean;
  portMappings: { containerPort: number; protocol?: string }[];
  environment: NameValue[];
  secrets: NameValue[];
  healthCheck: { command: string[]; interval?: number; timeout?: number; retries?: number };
  logConfiguration: { logDriver: string; options: Record<string, string> };
  stopTimeout?: number;
}

interface TaskDefinition {
  family: string;
  requiresCompatibilities: string[];
  networkMode: string;
  taskRoleArn: string;
  executionRoleArn: string;
  containerDefinitions: ContainerDefinition[];
}

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource?: string | string[];
  Principal?: { Service?: string };
}

interface PolicyDocument {
  Version: string;
  Statement: Statement[];
}

/**
 * Actions that IAM can grant only on every resource ("*"): they act on no
 * resource of their own. Pulling from ECR needs a registry login token.
 */
const ACTIONS_WITHOUT_RESOURCES = new Set(['ecr:GetAuthorizationToken']);

/** The IAM action each S3 request of the model store is authorized as. */
const S3_ACTION_OF_COMMAND: Record<string, string> = {
  GetObject: 's3:GetObject',
  PutObject: 's3:PutObject',
  DeleteObject: 's3:DeleteObject',
  ListObjectsV2: 's3:ListBucket',
  HeadBucket: 's3:ListBucket',
};

/** Values the placeholders stand for, to check what the files become once filled in. */
const FILLED: Record<string, string> = {
  '<account>': '123456789012',
  '<region>': 'eu-west-1',
  '<tag>': '0.1.0',
  '<bucket>': 'models-example',
  '<suffix>': 'AbCdEf',
};

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(join(ECS, file), 'utf8')) as T;
}

const task = readJson<TaskDefinition>('task-definition.json');
const taskPolicy = readJson<PolicyDocument>('task-role-policy.json');
const executionPolicy = readJson<PolicyDocument>('execution-role-policy.json');
const trustPolicy = readJson<PolicyDocument>('ecs-tasks-trust-policy.json');

const container = task.containerDefinitions[0]!;
const environment = Object.fromEntries(container.environment.map((e) => [e.name, e.value ?? '']));

const list = (value: string | string[] | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function fill(text: string): string {
  return Object.entries(FILLED).reduce((t, [placeholder, v]) => t.replaceAll(placeholder, v), text);
}

/** Statements of a policy that allow an action, with their resources. */
function resourcesFor(policy: PolicyDocument, action: string): string[] {
  return policy.Statement.filter(
    (s) => s.Effect === 'Allow' && list(s.Action).includes(action),
  ).flatMap((s) => list(s.Resource));
}

/** An environment whose reads are recorded; `values` answer them. */
function recordingEnv(values: Record<string, string>, reads: Set<string>): NodeJS.ProcessEnv {
  return new Proxy(
    { ...values },
    {
      get(target, key) {
        if (typeof key === 'string') reads.add(key);
        return target[key as string];
      },
    },
  );
}

/**
 * The variables single-container mode reads: recorded from the functions that
 * read the deployment's settings and the default database, plus those read
 * directly from process.env in the modules it loads (not the controller's).
 */
function variablesTheProductReads(): Set<string> {
  const reads = new Set<string>();
  configFromEnv(recordingEnv({ S3_BUCKET: 'b', MYSQL_URL: 'mysql://h/d' }, reads));
  mysqlConfigFromEnv('MYSQL', recordingEnv({}, reads));

  const sources = [
    join(ROOT, 'cli', 'standalone.ts'),
    join(ROOT, 'cli', 'main.ts'),
    ...['core', 'jobs', 'standalone', join('ui', 'server')].flatMap((d) =>
      sourceFiles(join(ROOT, d)),
    ),
  ];
  for (const file of sources) {
    for (const m of readFileSync(file, 'utf8').matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)) {
      reads.add(m[1]!);
    }
  }
  return reads;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('ECS task definition', () => {
  it('runs one essential container from the ECR repository on Fargate', () => {
    assert.equal(task.containerDefinitions.length, 1);
    assert.equal(container.name, 'mlpipeline');
    assert.equal(container.essential, true);
    assert.match(
      fill(container.image),
      /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/mlpipeline-operator:[\w.-]+$/,
    );
    assert.deepEqual(task.requiresCompatibilities, ['FARGATE']);
    assert.equal(task.networkMode, 'awsvpc');
    assert.match(fill(task.taskRoleArn), /^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/);
    assert.match(fill(task.executionRoleArn), /^arn:aws:iam::\d{12}:role\/[\w+=,.@-]+$/);
    assert.notEqual(task.taskRoleArn, task.executionRoleArn);
  });

  it('maps the port the product listens on, on every interface of the task', () => {
    const secrets = Object.fromEntries(container.secrets.map((s) => [s.name, 'from-secret']));
    const config = configFromEnv({ ...environment, ...secrets });

    assert.deepEqual(
      container.portMappings.map((p) => p.containerPort),
      [config.port],
    );
    assert.equal(container.portMappings[0]?.protocol, 'tcp');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.s3?.bucket, '<bucket>');
    assert.equal(config.mysqlEnvPrefix, 'MYSQL');
  });

  it('sets only variables the product reads, and credentials only from Secrets Manager', () => {
    const known = variablesTheProductReads();
    const names = [...container.environment, ...container.secrets].map((e) => e.name);

    for (const name of names) assert.ok(known.has(name), `${name} is not read by the product`);
    assert.equal(new Set(names).size, names.length, 'a variable is set twice');
    assert.deepEqual(container.secrets.map((s) => s.name).sort(), [
      'MLPIPELINE_API_TOKEN',
      'MYSQL_URL',
    ]);
    for (const name of Object.keys(environment)) {
      assert.doesNotMatch(name, /PASSWORD|TOKEN|SECRET|_URL$/, `${name} belongs in secrets`);
    }
    for (const secret of container.secrets) {
      assert.match(
        fill(secret.valueFrom ?? ''),
        /^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+-[A-Za-z0-9]{6}$/,
        `${secret.name}: not the full ARN of a Secrets Manager secret`,
      );
    }
  });

  it('gives a run, stopped on SIGTERM, its 20 s to end before the container is killed', () => {
    assert.ok((container.stopTimeout ?? 30) >= 25, `stopTimeout ${container.stopTimeout}`);
  });

  it('sends the logs to CloudWatch through awslogs', () => {
    const { logDriver, options } = container.logConfiguration;

    assert.equal(logDriver, 'awslogs');
    assert.ok(options['awslogs-group'], 'awslogs-group');
    assert.equal(options['awslogs-region'], '<region>');
    assert.ok(options['awslogs-stream-prefix'], 'awslogs-stream-prefix');
    assert.equal(options['awslogs-create-group'], undefined, 'the log group is created beforehand');
  });

  describe('health check command', () => {
    let dataDir = '';
    let server: ReturnType<typeof spawn> | undefined;
    let port = 0;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'mlp-ecs-health-'));
      server = spawn(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'standalone', '-f', 'examples/iris.yaml'],
        {
          cwd: ROOT,
          env: { ...process.env, PORT: '0', HOST: '127.0.0.1', MLPIPELINE_DATA_DIR: dataDir },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      port = await listeningPort(server);
    });

    after(() => {
      server?.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('is an exec-form command that passes while the API answers', () => {
      const [form, ...command] = container.healthCheck.command;
      assert.equal(form, 'CMD');
      assert.equal(runHealthCheck(command, port), 0);
    });

    it('fails when nothing answers on the port', async () => {
      const [, ...command] = container.healthCheck.command;
      const stopped = new Promise((resolve) => server?.once('exit', resolve));
      server?.kill('SIGTERM');
      await stopped;
      assert.notEqual(runHealthCheck(command, port), 0);
    });
  });
});

describe('ECS placeholders', () => {
  it('are only the ones the README fills in', () => {
    for (const file of readdirSync(ECS).filter((f) => f.endsWith('.json'))) {
      const placeholders = readFileSync(join(ECS, file), 'utf8').match(/<[^<>"]*>/g) ?? [];
      for (const p of placeholders) assert.ok(p in FILLED, `${file}: unknown placeholder ${p}`);
    }
  });
});

describe('ECS IAM policies', () => {
  const policies = { taskPolicy, executionPolicy };

  for (const [name, policy] of Object.entries(policies)) {
    it(`${name}: named actions, and no resource wider than one of ours`, () => {
      assert.equal(policy.Version, '2012-10-17');
      for (const statement of policy.Statement) {
        const label = `${name} ${statement.Sid ?? ''}`;
        assert.equal(statement.Effect, 'Allow', label);
        const actions = list(statement.Action);
        assert.ok(actions.length > 0, `${label}: no action`);
        for (const action of actions) {
          assert.match(
            action,
            /^[a-z0-9-]+:[A-Za-z]+$/,
            `${label}: ${action} is not one named action`,
          );
        }
        for (const resource of list(statement.Resource)) {
          if (resource === '*') {
            const wide = actions.filter((a) => !ACTIONS_WITHOUT_RESOURCES.has(a));
            assert.deepEqual(wide, [], `${label}: Resource "*" for ${wide.join(', ')}`);
            continue;
          }
          // A wildcard may only end an ARN that already names our bucket prefix or log group.
          assert.match(
            fill(resource),
            /^arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:[^*]+?([/:]\*)?$/,
            `${label}: ${resource}`,
          );
        }
      }
    });
  }

  it('task role: the S3 requests of the model store, under S3_PREFIX of S3_BUCKET only', () => {
    const store = readFileSync(join(ROOT, 'jobs', 'adapters', 's3-artifact-store.ts'), 'utf8');
    const commands = [...store.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!);
    assert.ok(commands.length > 0);

    const bucketArn = `arn:aws:s3:::${environment.S3_BUCKET}`;
    const objectsArn = `${bucketArn}/${environment.S3_PREFIX}*`;
    for (const command of new Set(commands)) {
      const action = S3_ACTION_OF_COMMAND[command];
      assert.ok(
        action,
        `${command}: which IAM action authorizes it? add it here and to the policy`,
      );
      const expected = action === 's3:ListBucket' ? bucketArn : objectsArn;
      assert.deepEqual(resourcesFor(taskPolicy, action), [expected], action);
    }
    const granted = taskPolicy.Statement.flatMap((s) => list(s.Action));
    const needed = new Set(commands.map((c) => S3_ACTION_OF_COMMAND[c]));
    assert.deepEqual(
      granted.filter((a) => !needed.has(a)),
      [],
      'actions the product never uses',
    );
  });

  it('execution role: pull this image, write its log group, read its two secrets', () => {
    const [registry, repositoryAndTag] = container.image.split('/') as [string, string];
    const repository = repositoryAndTag.split(':')[0]!;
    const [account, , , region] = registry.split('.');
    const repositoryArn = `arn:aws:ecr:${region}:${account}:repository/${repository}`;
    for (const action of ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']) {
      assert.deepEqual(resourcesFor(executionPolicy, action), [repositoryArn], action);
    }
    assert.deepEqual(resourcesFor(executionPolicy, 'ecr:GetAuthorizationToken'), ['*']);

    const { options } = container.logConfiguration;
    const groupArn = `arn:aws:logs:${options['awslogs-region']}:${account}:log-group:${options['awslogs-group']}:*`;
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      assert.deepEqual(resourcesFor(executionPolicy, action), [groupArn], action);
    }

    assert.deepEqual(
      resourcesFor(executionPolicy, 'secretsmanager:GetSecretValue').sort(),
      container.secrets.map((s) => s.valueFrom).sort(),
    );
  });

  it('trust policy: only ECS tasks of this account assume the roles', () => {
    const [statement] = trustPolicy.Statement;
    assert.equal(trustPolicy.Statement.length, 1);
    assert.equal(statement?.Principal?.Service, 'ecs-tasks.amazonaws.com');
    assert.deepEqual(list(statement.Action), ['sts:AssumeRole']);
    assert.match(JSON.stringify(statement), /"aws:SourceAccount":"<account>"/);
  });
});

/** The port a standalone process reports once it listens. */
function listeningPort(child: ReturnType<typeof spawn>): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error('standalone did not start in 30 s')), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const m = /"address":"http:\/\/127\.0\.0\.1:(\d+)\/".*single-container mode started/.exec(
        buffer,
      );
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`standalone exited with ${String(code)}`)));
  });
}

/** Runs the health check as ECS would in the container, whose PORT is `port`. */
function runHealthCheck(command: string[], port: number): number | null {
  const [program, ...args] = command;
  assert.equal(program, 'node', 'the image has node, and no curl or wget');
  const result = spawnSync(process.execPath, args, {
    env: { ...process.env, PORT: String(port) },
    timeout: (container.healthCheck.timeout ?? 5) * 1000,
  });
  return result.status;
}
