/**
 * Stage 2: real pods on a real kubelet (containerd v2 + runc) mount keymount volumes. keymount runs on the host
 * from dist/, registered through the kubelet's plugins_registry; the kubelet calls it exactly as in a cluster.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MOTO_START_TIMEOUT_MS, startMoto, type MotoServer } from '../helpers/moto.js';
import { startOpenBao, type OpenBao } from '../helpers/openbao.js';
import { IS_ROOT, ROOT_REASON, findmnt } from '../helpers/system.js';
import { AWS_REGION, ROLE_ARN, configureKubernetesAuth, putAwsSecret, putKv } from './cluster/backends.js';
import { startCluster, type Cluster } from './cluster/cluster.js';
import { VERSIONS } from './cluster/components.js';
import { callsFor } from './cluster/keymount-log.js';
import {
  createNamespace,
  createServiceAccount,
  execInPod,
  getPod,
  podEvents,
  waitForPodGone,
  waitForPodRunning,
  type PodObject,
} from './cluster/kube-objects.js';
import { MOUNT_PATH, podManifest, targetPath } from './cluster/pods.js';
import { eventually } from './cluster/processes.js';
import { mountsBelow } from './cluster/run-dir.js';

const NAMESPACE = 'shop';
const SERVICE_ACCOUNT = 'web';

describe.skipIf(!IS_ROOT)(
  `stage 2: pods on a real kubelet (Kubernetes ${VERSIONS.kubernetes}, containerd ${VERSIONS.containerd}, ${IS_ROOT ? 'runc' : ROOT_REASON})`,
  () => {
    let cluster: Cluster | undefined;
    let bao: OpenBao | undefined;
    let moto: MotoServer | undefined;

    beforeAll(async () => {
      // One after the other, so afterAll stops whichever started when the other fails.
      bao = await startOpenBao();
      moto = await startMoto();
      cluster = await startCluster({
        imagesDir: inject('e2eImagesDir'),
        // Short minimum refresh intervals, so a backend change shows at the kubelet's next republish.
        providers: {
          vault: { type: 'vault', address: bao.address, auth: { type: 'kubernetes' }, minRefreshInterval: '2s' },
          aws: { type: 'aws', region: AWS_REGION, endpoint: moto.endpoint, minRefreshInterval: '2s' },
        },
      });
      await createNamespace(cluster.plane, NAMESPACE);
      await createServiceAccount(cluster.plane, NAMESPACE, SERVICE_ACCOUNT);
      await configureKubernetesAuth(bao, cluster.plane, { role: 'shop-web', namespace: NAMESPACE, serviceAccount: SERVICE_ACCOUNT, secretPath: 'secret/shop/web' });
    }, MOTO_START_TIMEOUT_MS + 10 * 60_000);

    afterAll(async () => {
      const leftovers = (await cluster?.stop()) ?? [];
      await bao?.stop();
      await moto?.stop();
      // Containerd's own rootfs mounts may outlive a killed shim; keymount's tmpfs volumes must not.
      expect(leftovers.filter((mount) => mount.includes('kubernetes.io~csi'))).toEqual([]);
    });

    const env = (): Cluster => {
      if (!cluster) throw new Error('the cluster did not start');
      return cluster;
    };

    const createPod = async (name: string, volumeAttributes: Record<string, string>): Promise<void> => {
      await env().plane.kubectl(['create', '-f', '-'], podManifest({ namespace: NAMESPACE, name, serviceAccount: SERVICE_ACCOUNT, volumeAttributes }));
    };

    const readInPod = (name: string, file: string): Promise<string> => execInPod(env().plane, NAMESPACE, name, ['cat', `${MOUNT_PATH}/${file}`]);

    const deletePod = async (pod: PodObject): Promise<void> => {
      await env().plane.kubectl(['delete', 'pod', pod.metadata.name, '-n', NAMESPACE, '--wait=false']);
      await waitForPodGone(env().plane, NAMESPACE, pod.metadata.name);
    };

    const keymountLog = (): string => env().keymount.daemon().logFile;

    it('keymount registers itself with the kubelet through plugins_registry', async () => {
      // startCluster waited for the CSINode to list the driver; the kubelet's report reached keymount too.
      const csiNode = JSON.parse(await env().plane.kubectl(['get', 'csinode', env().node.name, '-o', 'json'])) as { spec: { drivers: { name: string; nodeID: string }[] } };
      expect(csiNode.spec.drivers).toContainEqual(expect.objectContaining({ name: 'keymount.csi.io', nodeID: env().node.name }));
      expect(readFileSync(keymountLog(), 'utf8')).toContain('registered with the kubelet');
    });

    it('a pod with a local-ca inline volume starts, and its non-root container reads a certificate for its own name', async () => {
      await createPod('web-0', { provider: 'local-ca', 'common-name': 'web.${POD_NAMESPACE}.svc', 'dns-names': 'web.${POD_NAMESPACE}.svc' });
      const pod = await waitForPodRunning(env().plane, NAMESPACE, 'web-0');

      const certificate = await readInPod('web-0', 'tls.crt');
      expect(certificate).toContain('-----BEGIN CERTIFICATE-----');
      const subject = execFileSync('openssl', ['x509', '-noout', '-subject', '-ext', 'subjectAltName'], { input: certificate, encoding: 'utf8' });
      expect(subject).toMatch(/CN\s*=\s*web\.shop\.svc/);
      expect(subject).toContain('DNS:web.shop.svc');
      const verified = execFileSync('openssl', ['verify', '-CAfile', env().localCa.cert], { input: certificate, encoding: 'utf8' });
      expect(verified.trim()).toBe('stdin: OK');
      expect(await readInPod('web-0', 'ca.crt')).toBe(readFileSync(env().localCa.cert, 'utf8'));
      // The key is readable by the pod's user through its fsGroup, and by nobody else.
      const listing = await execInPod(env().plane, NAMESPACE, 'web-0', ['ls', '-lL', MOUNT_PATH]);
      expect(listing).toMatch(/-r--r-----\s+\d+\s+\S+\s+2000\s+.*tls\.key/);

      const target = targetPath(env().node.kubeletRoot, pod.metadata.uid);
      const mount = findmnt(target);
      expect(mount?.fstype).toBe('tmpfs');
      expect(mount?.options).toMatch(/(^|,)ro(,|$)/);
      expect(callsFor(keymountLog(), 'NodePublishVolume', target).at(0)?.code).toBe('OK');
    });

    it('deleting the pod unpublishes the volume: nothing is left mounted, on disk, or in keymount state', async () => {
      const pod = await getPod(env().plane, NAMESPACE, 'web-0');
      if (!pod) throw new Error('pod web-0 is missing; the previous test did not create it');
      const target = targetPath(env().node.kubeletRoot, pod.metadata.uid);
      await deletePod(pod);

      await eventually('the kubelet to remove the pod directory', () => (existsSync(join(env().node.kubeletRoot, 'pods', pod.metadata.uid)) ? undefined : true), 60_000);
      expect(mountsBelow(join(env().node.kubeletRoot, 'pods'))).toEqual([]);
      expect(existsSync(target)).toBe(false);
      expect(callsFor(keymountLog(), 'NodeUnpublishVolume', target).map((call) => call.code)).toContain('OK');
      const records = readdirSync(join(env().keymount.stateDir, 'volumes')).map((file) => readFileSync(join(env().keymount.stateDir, 'volumes', file), 'utf8'));
      expect(records.filter((record) => record.includes(pod.metadata.uid))).toEqual([]);
    });

    it("a pod with bad attributes stays in ContainerCreating with keymount's message in its events", async () => {
      await createPod('typo-0', { provider: 'local-cA', 'common-name': 'typo' });
      const expected = 'volumeAttributes.provider "local-cA" is not a configured provider instance; configured: aws, local-ca, vault';
      const events = await eventually(
        "keymount's error in the pod's events",
        async () => {
          const lines = await podEvents(env().plane, NAMESPACE, 'typo-0');
          return lines.some((line) => line.includes('FailedMount') && line.includes(expected)) ? lines : undefined;
        },
        120_000,
        () => 'events so far did not carry the message',
      );
      expect(events.join('\n')).toContain('InvalidArgument');
      const pod = await getPod(env().plane, NAMESPACE, 'typo-0');
      expect(pod?.status?.phase).toBe('Pending');
      expect(pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ContainerCreating');
      if (pod) await deletePod(pod);
    });

    /** Waits until the file in the running container differs from `before`, and returns the new content. */
    const changedInPod = (name: string, file: string, before: string): Promise<string> =>
      eventually(`${file} to change in ${name}`, async () => {
        const now = await readInPod(name, file);
        return now !== before ? now : undefined;
      }, 120_000);

    it('a pod with an AWS volume reads its secret (pod token → STS → moto), and a new secret version reaches the running container through republish', async () => {
      if (!moto) throw new Error('moto did not start');
      await putAwsSecret(moto, 'shop/api-key', 'aws-key-1');
      await createPod('aws-0', { provider: 'aws', roleArn: ROLE_ARN, refreshInterval: '2s', objects: '- objectName: shop/api-key\n  objectAlias: api-key\n' });
      const pod = await waitForPodRunning(env().plane, NAMESPACE, 'aws-0');
      expect(await readInPod('aws-0', 'api-key')).toBe('aws-key-1');

      const target = targetPath(env().node.kubeletRoot, pod.metadata.uid);
      const publishesBefore = callsFor(keymountLog(), 'NodePublishVolume', target).length;
      await putAwsSecret(moto, 'shop/api-key', 'aws-key-2');
      expect(await changedInPod('aws-0', 'api-key', 'aws-key-1')).toBe('aws-key-2');
      // Only the kubelet's republish calls keymount for an AWS volume: the change came through one of them.
      expect(callsFor(keymountLog(), 'NodePublishVolume', target).length).toBeGreaterThan(publishesBefore);
      await deletePod(pod);
    });

    it('a pod with a Vault volume reads its secret (OpenBao kubernetes auth, TokenReview on this apiserver), and a new KV version reaches the running container through republish', async () => {
      if (!bao) throw new Error('OpenBao did not start');
      await putKv(bao, 'secret/shop/web', { password: 'vault-pw-1' });
      await createPod('vault-0', {
        provider: 'vault',
        roleName: 'shop-web',
        refreshInterval: '2s',
        objects: '- objectName: password\n  secretPath: secret/data/shop/web\n  secretKey: password\n',
      });
      const pod = await waitForPodRunning(env().plane, NAMESPACE, 'vault-0');
      expect(await readInPod('vault-0', 'password')).toBe('vault-pw-1');

      await putKv(bao, 'secret/shop/web', { password: 'vault-pw-2' });
      expect(await changedInPod('vault-0', 'password', 'vault-pw-1')).toBe('vault-pw-2');
      await deletePod(pod);
    });

    it("a certificate renewed by keymount's own timer replaces the old one in the running container", async () => {
      // Renewal is due 15 s after issue: duration − renew-before.
      await createPod('rotate-0', { provider: 'local-ca', 'dns-names': 'rotate.${POD_NAMESPACE}.svc', duration: '1h', 'renew-before': '59m45s' });
      const pod = await waitForPodRunning(env().plane, NAMESPACE, 'rotate-0');
      const first = await readInPod('rotate-0', 'tls.crt');
      const second = await changedInPod('rotate-0', 'tls.crt', first);
      expect(second).toContain('-----BEGIN CERTIFICATE-----');
      execFileSync('openssl', ['verify', '-CAfile', env().localCa.cert], { input: second });
      await deletePod(pod);
    });

    it('keeps serving running pods when the driver restarts, and still unpublishes them afterwards', async () => {
      // A long refresh interval: the files must survive the restart unchanged, not merely be re-issued.
      await createPod('steady-0', { provider: 'local-ca', 'dns-names': 'steady.${POD_NAMESPACE}.svc', refreshInterval: '1h' });
      const pod = await waitForPodRunning(env().plane, NAMESPACE, 'steady-0');
      const target = targetPath(env().node.kubeletRoot, pod.metadata.uid);
      const before = await readInPod('steady-0', 'tls.crt');

      await env().keymount.restart();
      const restartedLog = keymountLog();
      await eventually('the restarted driver to register again', () => (readFileSync(restartedLog, 'utf8').includes('registered with the kubelet') ? true : undefined), 60_000);
      // The kubelet's next republish is answered by the new process, and the container still has its files.
      await eventually('a republish answered OK by the restarted driver', () => (callsFor(restartedLog, 'NodePublishVolume', target).some((call) => call.code === 'OK') ? true : undefined), 120_000);
      expect(findmnt(target)?.fstype).toBe('tmpfs');
      expect(await readInPod('steady-0', 'tls.crt')).toBe(before);
      expect((await getPod(env().plane, NAMESPACE, 'steady-0'))?.status?.phase).toBe('Running');

      await deletePod(pod);
      await eventually('the target to be unmounted', () => (findmnt(target) ? undefined : true), 60_000);
      expect(callsFor(restartedLog, 'NodeUnpublishVolume', target).map((call) => call.code)).toContain('OK');
    });
  },
);
