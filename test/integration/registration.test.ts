/**
 * --register-with-kubelet: a client speaking the kubelet's plugin-registration
 * API over <kubelet-root>/plugins_registry/keymount.csi.io-reg.sock, doing what
 * the kubelet does (GetInfo, a CSI call on the endpoint it names,
 * NotifyRegistrationStatus), and a refused registration logged and retried.
 */
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildConfig, ConfigError } from '../../src/config/config.js';
import { CsiClient } from '../../src/csi/csi-client.js';
import type { PluginInfo__Output as PluginInfo } from '../../src/generated/pluginregistration/PluginInfo.js';
import type { RegistrationStatus } from '../../src/generated/pluginregistration/RegistrationStatus.js';
import { loadRegistrationService } from '../../src/registration/proto.js';
import { startHarness, type Harness } from '../helpers/driver-harness.js';
import { exists } from '../helpers/system.js';

/** The kubelet's side of the registration API. */
class KubeletRegistrationClient {
  private readonly client: grpc.Client;
  private readonly service: grpc.ServiceDefinition;

  constructor(socketPath: string) {
    const Registration = loadRegistrationService();
    this.service = Registration.service;
    this.client = new Registration(`unix://${socketPath}`, grpc.credentials.createInsecure());
  }

  getInfo(): Promise<PluginInfo> {
    return this.call('GetInfo', {}) as Promise<PluginInfo>;
  }

  notify(status: RegistrationStatus): Promise<unknown> {
    return this.call('NotifyRegistrationStatus', status);
  }

  close(): void {
    this.client.close();
  }

  private call(method: string, request: object): Promise<unknown> {
    const definition = this.service[method];
    if (definition === undefined) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => {
      // The kubelet gives GetInfo one second.
      this.client.makeUnaryRequest(
        definition.path,
        (message: object) => definition.requestSerialize(message),
        (bytes: Buffer): unknown => definition.responseDeserialize(bytes),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + 1_000 },
        (error, response) => {
          if (error) reject(error);
          else resolve(response);
        },
      );
    });
  }
}

interface LogRecord {
  level: string;
  msg: string;
  [key: string]: unknown;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startRegistering(flags: Record<string, string> = {}): Promise<{ harness: Harness; kubeletRoot: string; registrationSocket: string; logs: () => LogRecord[] }> {
  const kubeletRoot = mkdtempSync(join(tmpdir(), 'keymount-kubelet-'));
  const harness = await startHarness({
    flags: { 'register-with-kubelet': 'true', 'kubelet-root': kubeletRoot, ...flags },
    registrationRetry: { baseMs: 100, maxMs: 1_000 },
  });
  cleanups.push(async () => {
    await harness.stop();
    rmSync(kubeletRoot, { recursive: true, force: true });
  });
  return {
    harness,
    kubeletRoot,
    registrationSocket: join(kubeletRoot, 'plugins_registry', 'keymount.csi.io-reg.sock'),
    logs: () => harness.logLines.map((line) => JSON.parse(line) as LogRecord),
  };
}

function client(socketPath: string): KubeletRegistrationClient {
  const registration = new KubeletRegistrationClient(socketPath);
  cleanups.push(() => {
    registration.close();
  });
  return registration;
}

describe('the registration flags', () => {
  it('are off by default and validated', () => {
    const defaults = buildConfig({ 'node-id': 'n', endpoint: 'unix:///csi/csi.sock' }, {}, false);
    expect(defaults).toMatchObject({ registerWithKubelet: false, kubeletRoot: '/var/lib/kubelet', kubeletRegistrationPath: '/csi/csi.sock' });
    expect(buildConfig({ 'node-id': 'n' }, { KEYMOUNT_REGISTER_WITH_KUBELET: 'true', KEYMOUNT_KUBELET_ROOT: '/var/snap/microk8s/common/var/lib/kubelet' }, false)).toMatchObject({
      registerWithKubelet: true,
      kubeletRoot: '/var/snap/microk8s/common/var/lib/kubelet',
    });
    expect(() => buildConfig({ 'node-id': 'n', 'register-with-kubelet': 'yes' }, {}, false)).toThrow('--register-with-kubelet must be true or false');
    expect(() => buildConfig({ 'node-id': 'n', 'kubelet-root': 'var/lib/kubelet' }, {}, false)).toThrow(ConfigError);
    expect(() => buildConfig({ 'node-id': 'n', 'kubelet-registration-path': 'csi.sock' }, {}, false)).toThrow('--kubelet-registration-path must be an absolute path');
  });

  it('create no registration socket unless asked', async () => {
    const kubeletRoot = mkdtempSync(join(tmpdir(), 'keymount-kubelet-'));
    const harness = await startHarness({ flags: { 'kubelet-root': kubeletRoot } });
    cleanups.push(async () => {
      await harness.stop();
      rmSync(kubeletRoot, { recursive: true, force: true });
    });
    expect(exists(join(kubeletRoot, 'plugins_registry'))).toBe(false);
  });
});

describe('--register-with-kubelet=true', () => {
  it("answers GetInfo with the driver's name, endpoint and CSI versions, on a root-only socket in plugins_registry", async () => {
    const { harness, registrationSocket } = await startRegistering();
    const stat = lstatSync(registrationSocket);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    const info = await client(registrationSocket).getInfo();
    expect(info).toEqual({ type: 'CSIPlugin', name: 'keymount.csi.io', endpoint: harness.socketPath, supported_versions: ['1.0.0'] });
    // What the kubelet does next: dial the endpoint it was given and ask for the node's ID.
    const csi = new CsiClient(info.endpoint);
    cleanups.push(() => {
      csi.close();
    });
    expect((await csi.nodeGetInfo()).node_id).toBe('test-node');
  });

  it('reports the host path given by --kubelet-registration-path', async () => {
    const { registrationSocket } = await startRegistering({ 'kubelet-registration-path': '/var/lib/kubelet/plugins/keymount.csi.io/csi.sock' });
    expect((await client(registrationSocket).getInfo()).endpoint).toBe('/var/lib/kubelet/plugins/keymount.csi.io/csi.sock');
  });

  it('logs a successful registration', async () => {
    const { registrationSocket, logs } = await startRegistering();
    await client(registrationSocket).notify({ plugin_registered: true, error: '' });
    await vi.waitFor(() => {
      expect(logs().some((record) => record.msg === 'registered with the kubelet' && record.level === 'info')).toBe(true);
    });
  });

  it('logs a refused registration and re-creates the socket after a growing backoff, so the kubelet tries again', async () => {
    const { registrationSocket, logs } = await startRegistering();
    const first = client(registrationSocket);
    expect((await first.getInfo()).name).toBe('keymount.csi.io');

    await first.notify({ plugin_registered: false, error: 'RegisterPlugin error -- plugin endpoint not reachable' });
    const refusals = (): LogRecord[] => logs().filter((record) => record.level === 'error' && record.registrationError !== undefined);
    await vi.waitFor(() => {
      expect(refusals()).toHaveLength(1);
    });
    expect(refusals()[0]).toMatchObject({ registrationError: 'RegisterPlugin error -- plugin endpoint not reachable', failures: 1, retryInMs: 100 });
    // A new socket is what the kubelet's plugin watcher reacts to: the old one goes, a new one is bound.
    const bindings = (): number => logs().filter((record) => record.msg === 'waiting for the kubelet to register keymount').length;
    expect(bindings()).toBe(1);
    await vi.waitFor(
      () => {
        expect(bindings()).toBe(2);
        expect(exists(registrationSocket)).toBe(true);
      },
      { timeout: 5_000 },
    );
    const second = client(registrationSocket);
    expect((await second.getInfo()).name).toBe('keymount.csi.io');

    await second.notify({ plugin_registered: false, error: 'still failing' });
    await vi.waitFor(() => {
      expect(refusals()).toHaveLength(2);
    });
    expect(refusals()[1]).toMatchObject({ registrationError: 'still failing', failures: 2, retryInMs: 200 });
    await vi.waitFor(
      async () => {
        expect(bindings()).toBe(3);
        await client(registrationSocket).notify({ plugin_registered: true, error: '' });
      },
      { timeout: 5_000 },
    );
    await vi.waitFor(() => {
      expect(logs().some((record) => record.msg === 'registered with the kubelet')).toBe(true);
    });
  });

  it('removes the registration socket on shutdown, which deregisters the plugin', async () => {
    const { harness, registrationSocket } = await startRegistering();
    expect(exists(registrationSocket)).toBe(true);
    await harness.driver.stop();
    expect(exists(registrationSocket)).toBe(false);
  });
});
