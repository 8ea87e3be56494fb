import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { KubeConfig } from '@kubernetes/client-node';

import { makeCertificates } from '../test/cluster/control-plane.js';
import { makeClients } from './kube.js';

describe('API clients', () => {
  let dir: string;
  let server: ReturnType<typeof createServer>;
  let handshakes = 0;
  let kc: KubeConfig;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlp-kube-'));
    const certs = await makeCertificates(join(dir, 'pki'));
    // An HTTPS server asking for a client certificate, as the API server does.
    server = createServer(
      {
        cert: readFileSync(certs.apiServerCert),
        key: readFileSync(certs.apiServerKey),
        ca: readFileSync(certs.caCert),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'NamespaceList', items: [] }));
      },
    );
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'test',
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          caFile: certs.caCert,
          skipTLSVerify: false,
        },
      ],
      users: [{ name: 'admin', certFile: certs.adminCert, keyFile: certs.adminKey }],
      contexts: [{ name: 'test', cluster: 'test', user: 'admin' }],
      currentContext: 'test',
    });
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('keep one TLS connection open for requests one after another', async () => {
    const { core } = makeClients(kc);
    const before = handshakes;
    for (let i = 0; i < 5; i++) await core.listNamespace();
    assert.equal(handshakes - before, 1);
  });

  it('still authenticate with the kubeconfig identity on every request', async () => {
    const seen: (string | undefined)[] = [];
    const record = (req: { socket: unknown }) => {
      const socket = req.socket as { getPeerCertificate(): { subject?: { CN?: string } } };
      seen.push(socket.getPeerCertificate().subject?.CN);
    };
    server.on('request', record);
    try {
      const { core } = makeClients(kc);
      await core.listNamespace();
      await core.listNamespace();
    } finally {
      server.off('request', record);
    }
    assert.equal(seen.length, 2);
    assert.ok(
      seen.every((cn) => cn !== undefined && cn === seen[0]),
      JSON.stringify(seen),
    );
  });
});
