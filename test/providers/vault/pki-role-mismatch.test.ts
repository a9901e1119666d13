/**
 * What a pod sees when the vault-pki instance's PKI role refuses what its
 * volume asks for: through the whole driver, over gRPC as the kubelet calls
 * it, against a real OpenBao. Each role below differs from one that signs in
 * a single setting, so each publish meets exactly one of the refusals an
 * admin's role commonly gives (Vault's own defaults first). Such a refusal is
 * a mismatch between the role and the volume, not a denial: the pod gets
 * FAILED_PRECONDITION, Vault's reason, the attribute that would fix it and
 * the role setting that would.
 */
import { rmSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderInstanceConfig } from '../../../src/config/config.js';
import { roleMismatchFix } from '../../../providers/vault/pki-role-mismatch.js';
import { callError, startHarness, type Harness } from '../../helpers/driver-harness.js';
import {
  createJwtIssuer,
  createJwtRole,
  createPkiRole,
  enableJwtAuth,
  enablePki,
  startOpenBao,
  writePolicy,
  type OpenBao,
} from '../../helpers/openbao.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt } from '../../helpers/system.js';

/** A role that signs what the tests ask for; each mismatch role changes one setting of it. */
const SIGNING_ROLE = {
  allowed_domains: ['shop.svc'],
  allow_subdomains: true,
  allow_bare_domains: true,
  allow_ip_sans: true,
  allowed_uri_sans: ['spiffe://cluster.local/ns/shop/*'],
  require_cn: false,
  key_type: 'any',
  max_ttl: '24h',
};

/** PKI roles by name (each a vault-pki instance of the same name), on the "pki" mount unless said otherwise. */
const ROLES: Record<string, Record<string, unknown>> = {
  // What `vault write pki/roles/x allow_any_name=true` gives: key_type=rsa, key_bits=2048, require_cn=true.
  'vault-defaults': { allow_any_name: true },
  'rsa-4096': { ...SIGNING_ROLE, key_type: 'rsa', key_bits: 4096 },
  'ec-384': { ...SIGNING_ROLE, key_type: 'ec', key_bits: 384 },
  'bare-only': { ...SIGNING_ROLE, allow_subdomains: false },
  'no-ip': { ...SIGNING_ROLE, allow_ip_sans: false },
  'ip-cidr': { ...SIGNING_ROLE, allowed_ip_sans_cidr: ['192.168.0.0/16'] },
  'no-uri': { ...SIGNING_ROLE, allowed_uri_sans: [] },
  'other-uri': { ...SIGNING_ROLE, allowed_uri_sans: ['spiffe://cluster.local/ns/bank/*'] },
};

/** A mount whose CA expires in 2h and whose issuer refuses (rather than truncates) a leaf that would outlive it. */
const SHORT_CA_MOUNT = 'pki_short';

describe.skipIf(!IS_ROOT)(`vault-pki role mismatches (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let bao: OpenBao;
  let harness: Harness;
  let webToken: string;

  beforeAll(async () => {
    bao = await startOpenBao();
    const issuer = createJwtIssuer();
    await enableJwtAuth(bao, issuer);
    await enablePki(bao, 'pki');
    for (const [name, role] of Object.entries(ROLES)) await createPkiRole(bao, name, role);
    await bao.api('POST', `sys/mounts/${SHORT_CA_MOUNT}`, { type: 'pki', config: { max_lease_ttl: '87600h' } });
    await bao.api('POST', `${SHORT_CA_MOUNT}/root/generate/internal`, { common_name: 'keymount test short-lived root', ttl: '2h' });
    await bao.api('POST', `${SHORT_CA_MOUNT}/issuer/default`, { leaf_not_after_behavior: 'err' });
    await createPkiRole(bao, 'short-ca', SIGNING_ROLE, SHORT_CA_MOUNT);
    await writePolicy(bao, 'certs', `path "pki/sign/*" { capabilities = ["update"] }\npath "${SHORT_CA_MOUNT}/sign/*" { capabilities = ["update"] }`);
    await createJwtRole(bao, { name: 'certs', namespace: 'shop', serviceAccount: 'web', policies: ['certs'] });
    const instance = (pkiRole: string, pkiMount = 'pki'): ProviderInstanceConfig => ({
      type: 'vault-pki',
      settings: { address: bao.address, auth: { type: 'jwt', mountPath: 'jwt' }, pkiMount, pkiRole, minDuration: '2s' },
    });
    harness = await startHarness({
      providers: {
        ...Object.fromEntries(Object.keys(ROLES).map((name) => [name, instance(name)])),
        'short-ca': instance('short-ca', SHORT_CA_MOUNT),
        'no-such-role': instance('nosuch'),
      },
    });
    webToken = issuer.sign({ namespace: 'shop', serviceAccount: 'web' });
  }, 180_000);

  afterAll(async () => {
    await harness?.stop();
    await bao?.stop();
  });

  /** Publishes a volume of the given instance; returns the gRPC failure, after checking nothing was left mounted. */
  async function refusal(provider: string, attributes: Record<string, string>): Promise<{ code: number; details: string }> {
    const volume = harness.newVolume('tls');
    const error = await callError(harness.publish(volume, { provider, roleName: 'certs', ...attributes }, { tokens: { vault: webToken } }));
    expect(exists(volume.targetPath)).toBe(false);
    expect(findmnt(volume.targetPath)).toBeUndefined();
    return error;
  }

  async function publishes(provider: string, attributes: Record<string, string>): Promise<void> {
    const volume = harness.newVolume('tls');
    await harness.publish(volume, { provider, roleName: 'certs', ...attributes }, { tokens: { vault: webToken } });
    expect(findmnt(volume.targetPath)?.fstype).toBe('tmpfs');
    await harness.unpublish(volume);
    rmSync(volume.targetPath, { recursive: true, force: true });
  }

  it('Vault\'s default role and keymount\'s default key: FAILED_PRECONDITION naming key-algorithm: RSA and key_type=any', async () => {
    const error = await refusal('vault-defaults', { 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('role requires keys of type rsa');
    expect(error.details).toContain('PKI role "vault-defaults" at pki/');
    expect(error.details).toContain('"key-algorithm: RSA"');
    expect(error.details).toContain('key_type=any');
  });

  it('Vault\'s default role and no common name: FAILED_PRECONDITION naming common-name and require_cn=false; with both, it signs', async () => {
    const error = await refusal('vault-defaults', { 'key-algorithm': 'RSA', 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('common_name field is required');
    expect(error.details).toContain('"common-name"');
    expect(error.details).toContain('require_cn=false');
    await publishes('vault-defaults', { 'key-algorithm': 'RSA', 'common-name': 'web.shop.svc', 'dns-names': 'web.shop.svc' });
  });

  it('an RSA key smaller than the role\'s key_bits: FAILED_PRECONDITION naming key-size: 4096 and key_bits', async () => {
    const error = await refusal('rsa-4096', { 'key-algorithm': 'RSA', 'key-size': '2048', 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('minimum of a 4096-bit key');
    expect(error.details).toContain('"key-size: 4096"');
    expect(error.details).toContain('key_bits');
  });

  it('an RSA key for an EC-only role: FAILED_PRECONDITION naming key-algorithm: ECDSA', async () => {
    const error = await refusal('ec-384', { 'key-algorithm': 'RSA', 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('"key-algorithm: ECDSA"');
    expect(error.details).toContain('key_type=any');
  });

  it('a P-256 key for a role that wants 384 bits: FAILED_PRECONDITION naming key-size: 384', async () => {
    const error = await refusal('ec-384', { 'key-algorithm': 'ECDSA', 'key-size': '256', 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('"key-size: 384"');
    await publishes('ec-384', { 'key-algorithm': 'ECDSA', 'key-size': '384', 'dns-names': 'web.shop.svc' });
  });

  it('a DNS name the role\'s domains do not allow: FAILED_PRECONDITION naming dns-names and allowed_domains/allow_subdomains', async () => {
    const error = await refusal('bare-only', { 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('web.shop.svc not allowed by this role');
    expect(error.details).toContain('"dns-names"');
    for (const setting of ['allowed_domains', 'allow_subdomains', 'allow_any_name']) expect(error.details).toContain(setting);
  });

  it('a common name the role does not allow: FAILED_PRECONDITION naming common-name and allowed_domains', async () => {
    const error = await refusal('bare-only', { 'common-name': 'web.bank.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('common name web.bank.svc not allowed by this role');
    expect(error.details).toContain('"common-name"');
    expect(error.details).toContain('allowed_domains');
  });

  it('an e-mail address the role does not allow: FAILED_PRECONDITION naming email-sans', async () => {
    const error = await refusal('bare-only', { 'email-sans': 'ops@bank.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('email address ops@bank.svc not allowed by this role');
    expect(error.details).toContain('"email-sans"');
    expect(error.details).toContain('allowed_domains');
  });

  it('an IP SAN for a role without allow_ip_sans: FAILED_PRECONDITION naming ip-sans and allow_ip_sans=true', async () => {
    const error = await refusal('no-ip', { 'dns-names': 'web.shop.svc', 'ip-sans': '10.0.0.7' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('IP Subject Alternative Names are not allowed in this role');
    expect(error.details).toContain('"ip-sans"');
    expect(error.details).toContain('allow_ip_sans=true');
  });

  it('an IP SAN outside the role\'s CIDRs: FAILED_PRECONDITION naming ip-sans and allowed_ip_sans_cidr', async () => {
    const error = await refusal('ip-cidr', { 'dns-names': 'web.shop.svc', 'ip-sans': '10.0.0.7' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('"10.0.0.7" is not allowed in this role');
    expect(error.details).toContain('"ip-sans"');
    expect(error.details).toContain('allowed_ip_sans_cidr');
  });

  it('a URI SAN for a role without allowed_uri_sans: FAILED_PRECONDITION naming uri-sans and allowed_uri_sans', async () => {
    const error = await refusal('no-uri', { 'uri-sans': 'spiffe://cluster.local/ns/shop/sa/web' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('URI Subject Alternative Names are not allowed in this role');
    expect(error.details).toContain('"uri-sans"');
    expect(error.details).toContain('allowed_uri_sans');
  });

  it('a URI SAN outside the role\'s allowed_uri_sans: FAILED_PRECONDITION naming uri-sans and allowed_uri_sans', async () => {
    const error = await refusal('other-uri', { 'uri-sans': 'spiffe://cluster.local/ns/shop/sa/web' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('not valid for this role');
    expect(error.details).toContain('"uri-sans"');
    expect(error.details).toContain('allowed_uri_sans');
  });

  it('a duration that would outlive the CA, on an issuer that refuses it: FAILED_PRECONDITION naming duration and leaf_not_after_behavior', async () => {
    const error = await refusal('short-ca', { 'dns-names': 'web.shop.svc', duration: '3h' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('beyond the expiration of the CA certificate');
    expect(error.details).toContain('"duration"');
    expect(error.details).toContain('leaf_not_after_behavior=truncate');
    await publishes('short-ca', { 'dns-names': 'web.shop.svc', duration: '1h' });
  });

  it('a pkiRole the mount does not have: FAILED_PRECONDITION telling the admin to create it or fix the instance\'s pkiRole', async () => {
    const error = await refusal('no-such-role', { 'dns-names': 'web.shop.svc' });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toContain('unknown role: nosuch');
    expect(error.details).toContain('pkiRole');
    expect(error.details).toContain('vault-pki instance "no-such-role"');
  });
});

describe('what a server\'s answer can put into the message', () => {
  it('takes only a short key type and bit count from it, and nothing from an answer it does not know', () => {
    const longType = roleMismatchFix([`role requires keys of type ${'x'.repeat(5000)}`], 'pki', 'web');
    expect(longType).toBeUndefined();
    const known = roleMismatchFix(['role requires keys of type ed25519'], 'pki', 'web');
    expect(known).toContain('"key-algorithm: Ed25519"');
    expect(roleMismatchFix(['role requires a minimum of a 99999999-bit key'], 'pki', 'web')).toBeUndefined();
    expect(roleMismatchFix(['some other refusal', 'permission denied'], 'pki', 'web')).toBeUndefined();
  });
});
