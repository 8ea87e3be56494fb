/**
 * Runs Debian's mariadbd as a child process for the integration tests and the
 * benchmarks: its own data folder, socket and pid file, bound to 127.0.0.1 on a
 * free port, so it neither needs nor disturbs the system's MariaDB service.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

const execFileAsync = promisify(execFile);

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
const CLIENT = '/usr/bin/mariadb';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
const POLL_MS = 100;
const PORT_ATTEMPTS = 3;

export const TEST_DATABASE = 'mlp_test';
const TEST_USER = 'mlp';

export interface MariaDbOptions {
  /** Folder for the data and logs; reused when already initialised. */
  dir?: string;
  /** TCP port on 127.0.0.1; a free one when absent. */
  port?: number;
  /** Server's max_allowed_packet, for example '1M'. */
  maxAllowedPacket?: string;
  /** Whether the server accepts LOAD DATA LOCAL INFILE (default true). */
  localInfile?: boolean;
}

export interface MariaDbServer {
  /** mysql://user:password@127.0.0.1:port/database for a user limited to mlp_* databases. */
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** A folder under the repository's .test-infra/, which git ignores. */
export function testInfraDir(name: string): string {
  return fileURLToPath(new URL(`../../.test-infra/${name}`, import.meta.url));
}

export function mariaDbInstalled(): boolean {
  return existsSync(MARIADBD) && existsSync(INSTALL_DB) && existsSync(CLIENT);
}

/**
 * Starts mariadbd and resolves once it accepts connections and the test
 * database and user exist.
 */
export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDbServer> {
  if (!mariaDbInstalled()) {
    throw new Error(`${MARIADBD} not found: run test/infra/install.sh as root first`);
  }

  // MLP_TEST_MARIADB_DIR lets two test runs on one checkout use separate servers.
  const dir = opts.dir ?? process.env.MLP_TEST_MARIADB_DIR ?? testInfraDir('mariadb');
  const dataDir = join(dir, 'data');
  const pidFile = join(dir, 'mariadbd.pid');
  const logFile = join(dir, 'mariadbd.err');
  await mkdir(dir, { recursive: true });
  await refuseIfRunning(pidFile, dir);
  await initialise(dir, dataDir);

  // A unix socket path is limited to about 100 bytes, which a deep checkout
  // can exceed: the socket lives in a short temporary folder instead.
  const runDir = await mkdtemp(join(tmpdir(), 'mlp-mariadb-'));
  const socket = join(runDir, 'mariadbd.sock');

  let child: ChildProcess | undefined;
  let port = opts.port ?? 0;
  // If this process ends without stop(), the server is told to shut down
  // rather than left running on its port and data folder.
  const stopOnExit = () => child?.kill('SIGTERM');
  process.on('exit', stopOnExit);
  for (let attempt = 1; ; attempt++) {
    if (opts.port === undefined) port = await freePort();
    child = spawnServer({ ...opts, dataDir, pidFile, logFile, socket, port });
    const outcome = await waitUntilReady(child, socket, logFile);
    if (outcome === 'ready') break;
    if (!outcome.portInUse || opts.port !== undefined || attempt >= PORT_ATTEMPTS) {
      process.removeListener('exit', stopOnExit);
      await rm(runDir, { recursive: true, force: true });
      throw new Error(`mariadbd in ${dir} did not start: ${outcome.message}`);
    }
  }

  const server = child;
  const stop = async () => {
    process.removeListener('exit', stopOnExit);
    await stopChild(server);
    await rm(runDir, { recursive: true, force: true });
  };

  try {
    const password = randomBytes(16).toString('hex');
    await runSql(socket, setupSql(password));
    const url = `mysql://${TEST_USER}:${password}@127.0.0.1:${port}/${TEST_DATABASE}`;
    return { url, port, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function refuseIfRunning(pidFile: string, dir: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (processAlive(pid)) {
    // Two servers on one data folder would wait on InnoDB's file lock for
    // minutes before failing; saying so at once is kinder.
    throw new Error(`a mariadbd (pid ${pid}) is already using ${dir}: stop it or pass another dir`);
  }
  await rm(pidFile, { force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function initialise(dir: string, dataDir: string): Promise<void> {
  const marker = join(dir, '.initialised');
  if (existsSync(marker)) return;

  // A folder without the marker is what a failed or interrupted install left.
  await rm(dataDir, { recursive: true, force: true });
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    '--skip-test-db',
    '--auth-root-authentication-method=socket',
    `--auth-root-socket-user=${userInfo().username}`,
  ];
  if (process.getuid?.() === 0) args.push('--user=root');
  try {
    await execFileAsync(INSTALL_DB, args, { maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`mariadb-install-db failed in ${dataDir}: ${e.stderr || e.message}`);
  }
  await writeFile(marker, new Date().toISOString() + '\n');
}

function spawnServer(o: {
  dataDir: string;
  pidFile: string;
  logFile: string;
  socket: string;
  port: number;
  maxAllowedPacket?: string;
  localInfile?: boolean;
}): ChildProcess {
  const args = [
    '--no-defaults',
    `--datadir=${o.dataDir}`,
    `--socket=${o.socket}`,
    `--pid-file=${o.pidFile}`,
    `--log-error=${o.logFile}`,
    '--bind-address=127.0.0.1',
    `--port=${o.port}`,
    '--skip-name-resolve',
    `--local-infile=${o.localInfile === false ? 0 : 1}`,
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_unicode_ci',
  ];
  if (o.maxAllowedPacket) args.push(`--max-allowed-packet=${o.maxAllowedPacket}`);
  if (process.getuid?.() === 0) args.push('--user=root');
  return spawn(MARIADBD, args, { stdio: 'ignore' });
}

type StartOutcome = 'ready' | { message: string; portInUse: boolean };

async function waitUntilReady(
  child: ChildProcess,
  socket: string,
  logFile: string,
): Promise<StartOutcome> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
  });

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const log = await tail(logFile);
      return {
        message: `${exited}\n${log}`,
        portInUse: /Bind on TCP\/IP port|Address already in use/.test(log),
      };
    }
    try {
      await runSql(socket, 'SELECT 1');
      return 'ready';
    } catch {
      await sleep(POLL_MS);
    }
  }

  await stopChild(child);
  return {
    message: `not ready after ${READY_TIMEOUT_MS} ms\n${await tail(logFile)}`,
    portInUse: false,
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Runs SQL as the server's root account, which only the socket reaches. */
async function runSql(socket: string, sql: string): Promise<string> {
  const { stdout } = await execFileAsync(CLIENT, [
    '--no-defaults',
    `--socket=${socket}`,
    `--user=${userInfo().username}`,
    '--batch',
    '--execute',
    sql,
  ]);
  return stdout;
}

function setupSql(password: string): string {
  const user = `'${TEST_USER}'@'127.0.0.1'`;
  // The password changes on every start, so it is never stored on disk.
  return [
    `CREATE DATABASE IF NOT EXISTS \`${TEST_DATABASE}\` CHARACTER SET utf8mb4`,
    `CREATE USER IF NOT EXISTS ${user} IDENTIFIED BY '${password}'`,
    `ALTER USER ${user} IDENTIFIED BY '${password}'`,
    // mlp_* lets a test make a second database for db.table names, and
    // nothing more: an application user on a real server has no global rights.
    `GRANT ALL PRIVILEGES ON \`mlp\\_%\`.* TO ${user}`,
  ].join(';\n');
}

async function tail(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
