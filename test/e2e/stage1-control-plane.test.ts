/**
 * Stage 1: a real etcd and kube-apiserver (built from the module proxy at the pinned release) accept keymount's
 * deployment objects, and mint the service-account tokens the kubelet would hand the driver.
 */
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { MOTO_START_TIMEOUT_MS, startMoto, type MotoServer } from '../helpers/moto.js';
import { startOpenBao, type OpenBao } from '../helpers/openbao.js';
import { IS_ROOT, ROOT_REASON, join } from '../helpers/system.js';
import { AWS_REGION, ROLE_ARN, STS_AUDIENCE, VAULT_AUDIENCE, configureKubernetesAuth, putAwsSecret, putKv } from './cluster/backends.js';
import { VERSIONS } from './cluster/components.js';
import { SERVICE_ACCOUNT_ISSUER, startControlPlane, type ControlPlane } from './cluster/control-plane.js';
import { deploySources, toYaml } from './cluster/deploy-manifests.js';
import { createNamespace, createServiceAccount, decodeJwt, mintToken, reviewToken } from './cluster/kube-objects.js';
import { progress } from './cluster/processes.js';
import { cleanRunDir, createRunDir } from './cluster/run-dir.js';

describe(`stage 1: keymount against a real control plane (Kubernetes ${VERSIONS.kubernetes}, etcd ${VERSIONS.etcd})`, () => {
  let runDir: string;
  let plane: ControlPlane | undefined;

  beforeAll(async () => {
    runDir = createRunDir();
    progress(`stage 1: run directory ${runDir}`);
    plane = await startControlPlane(runDir);
  });

  afterAll(async () => {
    await plane?.stop();
    if (runDir) cleanRunDir(runDir);
  });

  const cluster = (): ControlPlane => {
    if (!plane) throw new Error('the control plane did not start');
    return plane;
  };

  it('serves the pinned Kubernetes release', async () => {
    const version = JSON.parse(await cluster().kubectl(['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    expect(version.serverVersion?.gitVersion).toBe(VERSIONS.kubernetes);
  });

  it("accepts every object of deploy/ (plain manifests, examples, rendered chart): a server-side dry run, then for real", async () => {
    const sources = deploySources();
    expect(sources.map((source) => source.name)).toContain('deploy/keymount.yaml');
    // What the controller-manager would do: a namespace for the examples and its default service account.
    await createNamespace(cluster(), 'examples');
    await createServiceAccount(cluster(), 'examples', 'default');
    // A dry run cannot see what an earlier document of the same run would create: objects in a new namespace and
    // pods of a new service account would be refused. So: namespaces, then everything but pods, then the pods.
    const phaseOf = (kind: string): number => (kind === 'Namespace' ? 0 : kind === 'Pod' ? 2 : 1);
    const phases = [0, 1, 2].map((phase) =>
      sources.map((source) => ({ ...source, objects: source.objects.filter((object) => phaseOf(object.kind) === phase) })),
    );
    for (const phase of phases) {
      for (const source of phase.filter((candidate) => candidate.objects.length > 0)) {
        progress(`applying ${source.name}: ${source.objects.map((object) => `${object.kind}/${object.metadata.name}`).join(', ')}`);
        const namespace = source.namespace ? ['-n', source.namespace] : [];
        const dryRun = await cluster().kubectl(['apply', '--dry-run=server', ...namespace, '-f', '-'], toYaml(source.objects));
        for (const object of source.objects) {
          expect(dryRun, `${source.name}: ${object.kind}/${object.metadata.name}`).toMatch(
            new RegExp(`/${object.metadata.name.replace(/\./g, '\\.')} (created|configured|unchanged) \\(server dry run\\)`),
          );
        }
        await cluster().kubectl(['apply', ...namespace, '-f', '-'], toYaml(source.objects));
        for (const object of source.objects) {
          const where = object.metadata.namespace ?? source.namespace;
          const got = JSON.parse(await cluster().kubectl(['get', object.kind, object.metadata.name, ...(where ? ['-n', where] : []), '-o', 'json'])) as {
            metadata: { uid?: string };
          };
          expect(got.metadata.uid, `${source.name}: ${object.kind}/${object.metadata.name}`).toBeTruthy();
        }
      }
    }
  });

  it('mints service-account tokens with TokenRequest for each audience of the CSIDriver, valid only for that audience', async () => {
    const driver = JSON.parse(await cluster().kubectl(['get', 'csidriver', 'keymount.csi.io', '-o', 'json'])) as {
      spec: { tokenRequests?: { audience: string }[]; requiresRepublish?: boolean; podInfoOnMount?: boolean; volumeLifecycleModes?: string[] };
    };
    expect(driver.spec.podInfoOnMount).toBe(true);
    expect(driver.spec.volumeLifecycleModes).toContain('Ephemeral');
    const audiences = (driver.spec.tokenRequests ?? []).map((request) => request.audience);
    expect(audiences.length, 'the CSIDriver asks the kubelet for no token').toBeGreaterThan(0);

    await createNamespace(cluster(), 'tokens');
    await createServiceAccount(cluster(), 'tokens', 'app');
    for (const audience of audiences) {
      const token = await mintToken(cluster(), 'tokens', 'app', audience);
      const claims = decodeJwt(token);
      expect(claims.iss).toBe(SERVICE_ACCOUNT_ISSUER);
      expect(claims.sub).toBe('system:serviceaccount:tokens:app');
      expect([claims.aud].flat()).toEqual([audience]);
      expect(claims.exp ?? 0).toBeGreaterThan(Date.now() / 1000);

      const accepted = await reviewToken(cluster(), token, [audience]);
      expect(accepted.authenticated, accepted.error).toBe(true);
      expect(accepted.user?.username).toBe('system:serviceaccount:tokens:app');
      const otherAudience = await reviewToken(cluster(), token, ['someone-else']);
      expect(otherAudience.authenticated ?? false).toBe(false);
    }
  });

  describe.skipIf(!IS_ROOT)(`providers logging in with TokenRequest tokens (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
    let bao: OpenBao;
    let moto: MotoServer;
    let harness: Harness;

    beforeAll(async () => {
      // One after the other, so afterAll stops whichever started when the other fails.
      bao = await startOpenBao();
      moto = await startMoto();
      await createNamespace(cluster(), 'shop');
      for (const account of ['web', 'intruder']) await createServiceAccount(cluster(), 'shop', account);
      await configureKubernetesAuth(bao, cluster(), { role: 'shop-web', namespace: 'shop', serviceAccount: 'web', secretPath: 'secret/shop/web' });
      await putKv(bao, 'secret/shop/web', { password: 'vault-pw-1' });
      await putAwsSecret(moto, 'shop/api-key', 'aws-key-1');
      // keymount in-process, called over gRPC exactly as the kubelet calls it, with the tokens the apiserver minted.
      harness = await startHarness({
        providers: {
          vault: { type: 'vault', settings: { address: bao.address, auth: { type: 'kubernetes' } } },
          aws: { type: 'aws', settings: { region: AWS_REGION, endpoint: moto.endpoint } },
        },
      });
    }, MOTO_START_TIMEOUT_MS * 2);

    afterAll(async () => {
      await harness?.stop();
      await bao?.stop();
      await moto?.stop();
    });

    const vaultObjects = '- objectName: password\n  secretPath: secret/data/shop/web\n  secretKey: password\n';

    it('Vault kubernetes auth: OpenBao checks the pod token with TokenReview on this apiserver, and the volume gets the secret', async () => {
      const volume = harness.newVolume('vault');
      const token = await mintToken(cluster(), 'shop', 'web', VAULT_AUDIENCE);
      await harness.publish(volume, { provider: 'vault', roleName: 'shop-web', objects: vaultObjects }, { namespace: 'shop', serviceAccount: 'web', tokens: { [VAULT_AUDIENCE]: token } });
      expect(readFileSync(join(volume.targetPath, 'password'), 'utf8')).toBe('vault-pw-1');
      await harness.unpublish(volume);
    });

    it('Vault kubernetes auth refuses a token of another service account, and one minted for another audience', async () => {
      const intruder = await mintToken(cluster(), 'shop', 'intruder', VAULT_AUDIENCE);
      const refused = await callError(
        harness.publish(harness.newVolume('vault'), { provider: 'vault', roleName: 'shop-web', objects: vaultObjects }, { namespace: 'shop', serviceAccount: 'intruder', tokens: { [VAULT_AUDIENCE]: intruder } }),
      );
      expect(refused.code).toBe(status.PERMISSION_DENIED);
      expect(refused.details).toContain('shop-web');

      const wrongAudience = await mintToken(cluster(), 'shop', 'web', 'not-vault');
      const alsoRefused = await callError(
        harness.publish(harness.newVolume('vault'), { provider: 'vault', roleName: 'shop-web', objects: vaultObjects }, { namespace: 'shop', serviceAccount: 'web', tokens: { [VAULT_AUDIENCE]: wrongAudience } }),
      );
      expect(alsoRefused.code).toBe(status.PERMISSION_DENIED);
    });

    it('AWS: the STS web-identity exchange takes a real service-account token, and the volume gets the secret', async () => {
      const volume = harness.newVolume('aws');
      const token = await mintToken(cluster(), 'shop', 'web', STS_AUDIENCE);
      await harness.publish(
        volume,
        { provider: 'aws', roleArn: ROLE_ARN, objects: '- objectName: shop/api-key\n  objectAlias: api-key\n' },
        { namespace: 'shop', serviceAccount: 'web', tokens: { [STS_AUDIENCE]: token } },
      );
      expect(readFileSync(join(volume.targetPath, 'api-key'), 'utf8')).toBe('aws-key-1');
      await harness.unpublish(volume);
    });
  });
});
