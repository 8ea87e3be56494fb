/**
 * A real Kubernetes control plane for the controller tests: etcd,
 * kube-apiserver and kube-controller-manager as child processes, all bound to
 * 127.0.0.1 on free ports, with their certificates, keys, data and logs in one
 * folder. The binaries come from test/cluster/build.sh.
 *
 *   const cp = await startControlPlane({ dir });
 *   // cp.kubeconfig: admin kubeconfig (group system:masters); cp.server: https URL
 *   await cp.stop();
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { KubeConfig } from '@kubernetes/client-node';

const execFileAsync = promisify(execFile);

const HERE = fileURLToPath(new URL('.', import.meta.url));
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;
const POLL_MS = 200;
const PORT_ATTEMPTS = 3;

/** The Kubernetes release that test/cluster/go/go.mod pins, for example v1.34.4. */
export function kubernetesVersion(): string {
  const gomod = readFileSync(join(HERE, 'go', 'go.mod'), 'utf8');
  const m = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\S+)/m.exec(gomod);
  if (!m?.[1]) throw new Error('test/cluster/go/go.mod does not require k8s.io/kubernetes');
  return m[1];
}

/**
 * Folder holding etcd, kube-apiserver and kube-controller-manager:
 * $MLP_CLUSTER_BIN_DIR, else ${MLP_CLUSTER_CACHE:-~/.cache/mlpipeline-cluster}/<version>.
 */
export function clusterBinDir(): string {
  if (process.env.MLP_CLUSTER_BIN_DIR) return resolve(process.env.MLP_CLUSTER_BIN_DIR);
  const root = process.env.MLP_CLUSTER_CACHE || join(homedir(), '.cache', 'mlpipeline-cluster');
  return join(root, kubernetesVersion());
}

const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager'] as const;

/** Whether build.sh has built all three binaries. */
export function clusterBinariesPresent(binDir = clusterBinDir()): boolean {
  return BINARIES.every((b) => existsSync(join(binDir, b)));
}

export interface ControlPlaneOptions {
  /** Folder for certificates, keys, kubeconfigs, etcd data and logs; created if missing. */
  dir: string;
  /** Folder with the binaries (default: clusterBinDir()). */
  binDir?: string;
  /** Controllers kube-controller-manager runs. */
  controllers?: string[];
  /** Extra kube-apiserver flags, for example ['--feature-gates=...']. */
  apiServerArgs?: string[];
}

export interface ControlPlane {
  /** Path of an admin kubeconfig (client certificate in group system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM files for a client that talks to the API server directly. */
  tls: { ca: string; cert: string; key: string };
  /** The folder given to startControlPlane; logs are <component>.log there. */
  dir: string;
  /**
   * A cluster named by MLP_TEST_KUBECONFIG (kind, say) rather than one
   * started here: real kubelets run its pods, and stop() stops nothing.
   */
  external: boolean;
  /**
   * Something to undo at stop() on a cluster that outlives the tests (a
   * namespace they made); a cluster started here is discarded whole instead.
   */
  atStop(undo: () => Promise<void>): void;
  /** Stops kube-controller-manager, kube-apiserver and etcd (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

/** The kubeconfig of a cluster the tests run against instead of starting one, if any. */
export function externalKubeconfig(): string | undefined {
  return process.env.MLP_TEST_KUBECONFIG || undefined;
}

/**
 * The cluster of MLP_TEST_KUBECONFIG, seen as a ControlPlane: its CA and
 * client identity written to files in dir for clients that take PEM files.
 * Only a client certificate (as kind's admin kubeconfig has) is supported.
 */
export async function attachCluster(kubeconfigPath: string, dir: string): Promise<ControlPlane> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (cluster === null || user === null) {
    throw new Error(`${kubeconfigPath}: no current context with a cluster and a user`);
  }
  const pem = (data: string | undefined, file: string | undefined, what: string): Buffer => {
    if (data) return Buffer.from(data, 'base64');
    if (file) return readFileSync(file);
    throw new Error(`${kubeconfigPath}: the current context has no ${what}`);
  };
  await mkdir(dir, { recursive: true });
  const tls = {
    ca: join(dir, 'ca.crt'),
    cert: join(dir, 'client.crt'),
    key: join(dir, 'client.key'),
  };
  await writeFile(tls.ca, pem(cluster.caData, cluster.caFile, 'certificate authority'));
  await writeFile(tls.cert, pem(user.certData, user.certFile, 'client certificate'));
  await writeFile(tls.key, pem(user.keyData, user.keyFile, 'client key'), { mode: 0o600 });
  const undos: (() => Promise<void>)[] = [];
  return {
    kubeconfig: resolve(kubeconfigPath),
    server: cluster.server,
    tls,
    dir,
    external: true,
    atStop: (undo) => undos.push(undo),
    async stop() {
      for (const undo of undos.splice(0).reverse()) await undo();
    },
  };
}

export const DEFAULT_CONTROLLERS = [
  'cronjob',
  'job',
  'garbagecollector',
  'namespace',
  'serviceaccount',
  'serviceaccount-token',
];

/** Starts etcd, kube-apiserver and kube-controller-manager; resolves once all are healthy. */
export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const dir = resolve(opts.dir);
  const external = externalKubeconfig();
  if (external !== undefined) return attachCluster(external, dir);
  const binDir = opts.binDir ?? clusterBinDir();
  for (const b of BINARIES) {
    if (!existsSync(join(binDir, b))) {
      throw new Error(`${join(binDir, b)} not found: run test/cluster/build.sh first`);
    }
  }
  await mkdir(dir, { recursive: true });
  // Each start's logs replace the last one's; retries within a start append.
  await Promise.all(BINARIES.map((b) => rm(join(dir, `${b}.log`), { force: true })));
  const pki = join(dir, 'pki');
  const certs = await makeCertificates(pki);

  const running: Proc[] = [];
  const killAllOnExit = () => {
    for (const p of running) p.child.kill('SIGKILL');
  };
  process.on('exit', killAllOnExit);
  const stop = async () => {
    process.removeListener('exit', killAllOnExit);
    // Reverse order: controllers first, storage last.
    for (const p of [...running].reverse()) await stopProc(p);
    running.length = 0;
  };

  try {
    // etcd
    // A fresh cluster each time: the certificates and keys above are new too.
    const etcdData = join(dir, 'etcd');
    await rm(etcdData, { recursive: true, force: true });
    const etcdPort = await startWithFreePorts(2, async ([client, peer]) => {
      const clientUrl = `http://127.0.0.1:${client}`;
      const p = await spawnLogged('etcd', join(binDir, 'etcd'), dir, [
        '--name=mlp-test',
        `--data-dir=${etcdData}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ]);
      const ok = await waitFor(p, () =>
        httpOk(`${clientUrl}/health`, (body) => body.includes('true')),
      );
      if (!ok) return { proc: p, ready: false };
      running.push(p);
      return { proc: p, ready: true, value: client };
    });
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;

    // kube-apiserver
    const adminTls = { ca: certs.caCert, cert: certs.adminCert, key: certs.adminKey };
    const apiPort = await startWithFreePorts(1, async ([port]) => {
      const server = `https://127.0.0.1:${port}`;
      const p = await spawnLogged('kube-apiserver', join(binDir, 'kube-apiserver'), dir, [
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        `--etcd-servers=${etcdUrl}`,
        `--tls-cert-file=${certs.apiServerCert}`,
        `--tls-private-key-file=${certs.apiServerKey}`,
        `--client-ca-file=${certs.caCert}`,
        '--authorization-mode=Node,RBAC',
        `--service-account-issuer=${server}`,
        `--service-account-key-file=${certs.saPub}`,
        `--service-account-signing-key-file=${certs.saKey}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        // Endpoints may not hold a loopback address, so the apiserver's own
        // endpoint reconciler would only log errors with 127.0.0.1.
        '--endpoint-reconciler-type=none',
        ...(opts.apiServerArgs ?? []),
      ]);
      const ok = await waitFor(p, () =>
        httpsOk(`${server}/readyz`, adminTls, (body) => body.trim() === 'ok'),
      );
      if (!ok) return { proc: p, ready: false };
      running.push(p);
      return { proc: p, ready: true, value: port };
    });
    const server = `https://127.0.0.1:${apiPort}`;

    const kubeconfig = join(dir, 'admin.kubeconfig');
    await writeKubeconfig(
      kubeconfig,
      server,
      certs.caCert,
      certs.adminCert,
      certs.adminKey,
      'admin',
    );
    const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
    await writeKubeconfig(
      kcmKubeconfig,
      server,
      certs.caCert,
      certs.kcmCert,
      certs.kcmKey,
      'kube-controller-manager',
    );

    // kube-controller-manager
    const controllers = opts.controllers ?? DEFAULT_CONTROLLERS;
    await startWithFreePorts(1, async ([port]) => {
      const p = await spawnLogged(
        'kube-controller-manager',
        join(binDir, 'kube-controller-manager'),
        dir,
        [
          '--bind-address=127.0.0.1',
          `--secure-port=${port}`,
          `--tls-cert-file=${certs.kcmServingCert}`,
          `--tls-private-key-file=${certs.kcmServingKey}`,
          `--kubeconfig=${kcmKubeconfig}`,
          `--controllers=${controllers.join(',')}`,
          '--use-service-account-credentials',
          `--root-ca-file=${certs.caCert}`,
          `--service-account-private-key-file=${certs.saKey}`,
          '--leader-elect=false',
        ],
      );
      const ok = await waitFor(p, () =>
        httpsOk(
          `https://127.0.0.1:${port}/healthz`,
          { ca: certs.caCert },
          (b) => b.trim() === 'ok',
        ),
      );
      if (!ok) return { proc: p, ready: false };
      running.push(p);
      return { proc: p, ready: true, value: port };
    });

    return {
      kubeconfig,
      server,
      tls: adminTls,
      dir,
      external: false,
      atStop: () => undefined,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------
// processes

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
  exitReason?: string;
}

async function spawnLogged(name: string, bin: string, dir: string, args: string[]): Promise<Proc> {
  const log = join(dir, `${name}.log`);
  const fh = await open(log, 'a');
  await fh.write(`\n=== ${new Date().toISOString()} ${bin} ${args.join(' ')}\n`);
  const child = spawn(bin, args, { stdio: ['ignore', fh.fd, fh.fd], cwd: dir });
  const proc: Proc = { name, child, log, exited: Promise.resolve() };
  proc.exited = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      proc.exitReason = signal ? `killed by ${signal}` : `exited with code ${code}`;
      appendFile(log, `=== ${new Date().toISOString()} ${name} ${proc.exitReason}\n`).then(
        res,
        res,
      );
    });
    child.once('error', (err) => {
      proc.exitReason = `failed to start: ${err.message}`;
      res();
    });
  });
  // The child has its own copy of the descriptor.
  child.once('spawn', () => void fh.close());
  child.once('error', () => void fh.close());
  return proc;
}

async function stopProc(p: Proc): Promise<void> {
  if (p.exitReason !== undefined) return;
  p.child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((res) =>
    setTimeout(() => res('timeout'), STOP_TIMEOUT_MS).unref(),
  );
  if ((await Promise.race([p.exited.then(() => 'exited' as const), timer])) === 'timeout') {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

/** Polls check() until it passes; false if the process exited or time ran out first. */
async function waitFor(p: Proc, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (p.exitReason !== undefined) return false;
    if (await check()) return true;
    await sleep(POLL_MS);
  }
  return false;
}

type StartResult<T> = { proc: Proc; ready: true; value: T } | { proc: Proc; ready: false };

/**
 * Picks n free ports and starts a component on them; when it fails because
 * another process took a port in between, it tries again with new ports.
 */
async function startWithFreePorts<T>(
  n: number,
  start: (ports: number[]) => Promise<StartResult<T>>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts(n);
    const r = await start(ports);
    if (r.ready) return r.value;
    await stopProc(r.proc);
    const tail = await logTail(r.proc.log);
    const portInUse = /address already in use/i.test(tail);
    if (!portInUse || attempt >= PORT_ATTEMPTS) {
      throw new Error(
        `${r.proc.name} did not become ready (${r.proc.exitReason ?? 'timed out'}); ` +
          `see ${r.proc.log}:\n${tail}`,
      );
    }
  }
}

async function logTail(log: string, lines = 30): Promise<string> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.once('error', rej);
          s.listen(0, '127.0.0.1', () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  return ports;
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

function httpOk(url: string, accept: (body: string) => boolean): Promise<boolean> {
  return new Promise((res) => {
    const req = httpRequest(url, { timeout: 2000 }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (body += c));
      r.on('end', () => res(r.statusCode === 200 && accept(body)));
    });
    req.on('error', () => res(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

function httpsOk(
  url: string,
  tls: { ca: string; cert?: string; key?: string },
  accept: (body: string) => boolean,
): Promise<boolean> {
  return new Promise((res) => {
    const req = httpsRequest(
      url,
      {
        timeout: 2000,
        ca: readFileSync(tls.ca),
        ...(tls.cert && tls.key
          ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) }
          : {}),
      },
      (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => (body += c));
        r.on('end', () => res(r.statusCode === 200 && accept(body)));
      },
    );
    req.on('error', () => res(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

// ---------------------------------------------------------------------------
// certificates and kubeconfigs

export interface Certificates {
  caCert: string;
  apiServerCert: string;
  apiServerKey: string;
  adminCert: string;
  adminKey: string;
  kcmCert: string;
  kcmKey: string;
  kcmServingCert: string;
  kcmServingKey: string;
  saKey: string;
  saPub: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

/** Makes a CA, serving and client certificates and a service-account key pair. */
/** A CA and the certificates the control plane and its clients use, in folder pki. */
export async function makeCertificates(pki: string): Promise<Certificates> {
  await rm(pki, { recursive: true, force: true });
  await mkdir(pki, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(pki, name);

  await openssl([
    'req',
    '-x509',
    '-new',
    '-nodes',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '30',
    '-subj',
    '/CN=mlpipeline-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);

  const issue = async (name: string, subject: string, ext: string[]) => {
    await openssl([
      'req',
      '-new',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      subject,
    ]);
    await writeFile(f(`${name}.ext`), ext.join('\n') + '\n');
    await openssl([
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '30',
      '-out',
      f(`${name}.crt`),
      '-extfile',
      f(`${name}.ext`),
    ]);
  };
  const serverExt = (dns: string[]) => [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth',
    `subjectAltName=IP:127.0.0.1,${dns.map((d) => `DNS:${d}`).join(',')}`,
  ];
  const clientExt = [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=clientAuth',
  ];

  await issue(
    'kube-apiserver',
    '/CN=kube-apiserver',
    serverExt(['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc']),
  );
  await issue(
    'kube-controller-manager-serving',
    '/CN=kube-controller-manager',
    serverExt(['localhost']),
  );
  await issue('admin', '/O=system:masters/CN=mlpipeline-test-admin', clientExt);
  await issue('kube-controller-manager', '/CN=system:kube-controller-manager', clientExt);

  await openssl([
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    f('sa.key'),
  ]);
  await openssl(['pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')]);

  return {
    caCert: f('ca.crt'),
    apiServerCert: f('kube-apiserver.crt'),
    apiServerKey: f('kube-apiserver.key'),
    adminCert: f('admin.crt'),
    adminKey: f('admin.key'),
    kcmCert: f('kube-controller-manager.crt'),
    kcmKey: f('kube-controller-manager.key'),
    kcmServingCert: f('kube-controller-manager-serving.crt'),
    kcmServingKey: f('kube-controller-manager-serving.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
}

async function writeKubeconfig(
  path: string,
  server: string,
  ca: string,
  cert: string,
  key: string,
  user: string,
): Promise<void> {
  const b64 = async (p: string) => (await readFile(p)).toString('base64');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: mlpipeline-test',
    '    cluster:',
    `      server: ${server}`,
    `      certificate-authority-data: ${await b64(ca)}`,
    'users:',
    `  - name: ${user}`,
    '    user:',
    `      client-certificate-data: ${await b64(cert)}`,
    `      client-key-data: ${await b64(key)}`,
    'contexts:',
    `  - name: ${user}@mlpipeline-test`,
    '    context:',
    '      cluster: mlpipeline-test',
    `      user: ${user}`,
    `current-context: ${user}@mlpipeline-test`,
    '',
  ].join('\n');
  await writeFile(path, text, { mode: 0o600 });
}
