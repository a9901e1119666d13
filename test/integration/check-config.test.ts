/**
 * `keymount check-config` and the start-up check of `keymount serve`, run as
 * real processes on config files with several bad instances: every error is
 * reported at once, each with its instance and setting.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-info.js';

const run = promisify(execFile);
const CLI = join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');

function keymount(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return run('node', [CLI, ...args], { cwd: PACKAGE_ROOT, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: unknown) => {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    },
  );
}

/** One good instance and three bad ones, each wrong in a different setting. */
const THREE_BAD_ONE_GOOD = `providers:
  good-ca:
    type: local-ca
  aws-prod:
    type: aws
    region: eu-west-1
    regoin: eu-west-2
  vault-team:
    type: vault
    address: https://vault.example:8200
    auth:
      type: kubernetes
      mountPth: team-k8s
  certs:
    type: vault-pki
    address: https://vault.example:8200
    pkiRole: pods
    maxIssuancesPerMinute: 0
    auth:
      type: kubernetes
`;

let root: string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'keymount-check-config-'));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function configFile(name: string, text: string): string {
  const file = join(root, name);
  writeFileSync(file, text);
  return file;
}

/** The lines of stderr that report one error (the heading excluded). */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('  - '));
}

describe('keymount check-config', () => {
  it('explains itself with --help, including which files it reads', async () => {
    const result = await keymount(['check-config', '--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('keymount check-config [--settings-only] FILE');
    expect(result.stdout).toContain('caKeyFile');
    expect(result.stdout).toContain('--settings-only');
    expect((await keymount(['--help'])).stdout).toContain('keymount check-config FILE');
  });

  it('lists every error of three bad instances at once, each with its instance and setting, and exits non-zero', async () => {
    const result = await keymount(['check-config', configFile('three-bad.yaml', THREE_BAD_ONE_GOOD)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('3 errors in 3 provider instances');
    expect(errorLines(result.stderr)).toEqual([
      '  - provider instance "aws-prod" (type aws): setting "regoin": unknown setting (did you mean "region"?)',
      '  - provider instance "vault-team" (type vault): setting "auth.mountPth": unknown setting (did you mean "auth.mountPath"?)',
      expect.stringMatching(/^ {2}- provider instance "certs" \(type vault-pki\): setting "maxIssuancesPerMinute": .*>=1/),
    ]);
    // The instance is named once per error, not again by the provider type.
    expect(result.stderr).not.toContain('invalid settings');
    expect(result.stderr).not.toContain('good-ca');
    expect(result.stdout).toBe('');
  });

  it('suggests the setting a typo meant, nested ones and the common ones included', async () => {
    const file = configFile(
      'typos.yaml',
      `providers:
  aws:
    type: aws
    region: us-east-1
    namespace: [shop]
    auth: { type: irsa, audiance: sts.amazonaws.com }
  ca:
    type: local-ca
    policy: { dnsName: ["*.svc"] }
  v:
    type: vaul
`,
    );
    const result = await keymount(['check-config', '--settings-only', file]);
    expect(result.code).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      '  - provider instance "aws" (type aws): setting "auth.audiance": unknown setting (did you mean "auth.audience"?)',
      '  - provider instance "aws" (type aws): setting "namespace": unknown setting (did you mean "namespaces"?)',
      '  - provider instance "ca" (type local-ca): setting "policy.dnsName": unknown setting (did you mean "policy.dnsNames"?)',
      '  - provider instance "v" (type vaul): setting "type": unknown type "vaul" (did you mean "vault"?); known types: local-ca, vault, vault-pki, aws',
    ]);
  });

  it('checks the settings of an instance whose common settings are wrong too, and lists both', async () => {
    const file = configFile(
      'common.yaml',
      `providers:
  team-aws:
    type: aws
    region: eu-west-1
    namespaces: ["Shop"]
    regoin: eu-west-2
  untyped:
    region: eu-west-1
  good-ca:
    type: local-ca
`,
    );
    const result = await keymount(['check-config', '--settings-only', file]);
    expect(result.code).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      expect.stringMatching(/^ {2}- provider instance "team-aws" \(type aws\): setting "namespaces": namespaces\[0\] "Shop" must be a namespace name/),
      '  - provider instance "team-aws" (type aws): setting "regoin": unknown setting (did you mean "region"?)',
      '  - provider instance "untyped": setting "type": is required',
    ]);
  });

  it('never echoes a setting\'s value, even a secret written under the wrong name or a token file\'s contents', async () => {
    const token = join(root, 'token');
    writeFileSync(token, 'TOKEN-FILE-CONTENTS-4242\n');
    const file = configFile(
      'secrets.yaml',
      `providers:
  aws:
    type: aws
    region: SECRET-REGION-VALUE-1234
    secretAccessKey: SECRET-ACCESS-KEY-5678
  vault:
    type: vault
    address: https://vault.example:8200
    token: SECRET-TOKEN-9012
    auth: { type: token, tokenFile: ${token}, sharedIdentity: { acknowledged: true, allow: ["secret/data/shared/*"] }, roleId: SECRET-ROLE-3456 }
`,
    );
    const result = await keymount(['check-config', file]);
    expect(result.code).toBe(1);
    expect(errorLines(result.stderr).length).toBeGreaterThanOrEqual(4);
    expect(result.stderr).toContain('setting "secretAccessKey": unknown setting');
    for (const secret of ['SECRET-REGION-VALUE-1234', 'SECRET-ACCESS-KEY-5678', 'SECRET-TOKEN-9012', 'SECRET-ROLE-3456', 'TOKEN-FILE-CONTENTS-4242']) {
      expect(result.stderr + result.stdout).not.toContain(secret);
    }
  });

  it('prints one line per instance and exits 0 for a good config, with the warnings serve would log', async () => {
    const file = configFile(
      'good.yaml',
      `providers:
  dev-ca:
    type: local-ca
  aws:
    type: aws
    region: eu-west-1
    namespaces: ["team-*"]
  certs:
    type: vault-pki
    address: https://vault.example:8200
    pkiRole: pods
    auth: { type: kubernetes }
`,
    );
    const result = await keymount(['check-config', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n').filter((line) => line.startsWith('ok: '))).toEqual([
      'ok: provider instance "dev-ca" (type local-ca): settings valid, instance built',
      'ok: provider instance "aws" (type aws): settings valid, instance built',
      'ok: provider instance "certs" (type vault-pki): settings valid, instance built',
    ]);
    expect(result.stdout).toMatch(/warning: local-ca: no caCertFile\/caKeyFile set/);
  });

  it('reports a missing or unreadable file with its setting and path, for every instance; --settings-only does not read them', async () => {
    const unreadable = join(root, 'unreadable-token');
    writeFileSync(unreadable, 'x');
    chmodSync(unreadable, 0o000);
    const isRoot = process.getuid?.() === 0;
    const file = configFile(
      'files.yaml',
      `providers:
  ca:
    type: local-ca
    caCertFile: ${join(root, 'missing', 'ca.crt')}
    caKeyFile: ${join(root, 'missing', 'ca.key')}
  token:
    type: vault
    address: https://vault.example:8200
    auth:
      type: token
      tokenFile: ${join(root, 'no-such-token')}
      sharedIdentity: { acknowledged: true, allow: ["secret/data/shared/*"] }
  approle:
    type: vault
    address: https://vault.example:8200
    auth:
      type: approle
      roleId: app
      secretIdFile: ${unreadable}
      sharedIdentity: { acknowledged: true, allow: ["secret/data/shared/*"] }
`,
    );
    const result = await keymount(['check-config', file]);
    expect(result.code).toBe(1);
    const lines = errorLines(result.stderr);
    expect(lines[0]).toMatch(/provider instance "ca" \(type local-ca\): .*caCertFile.*missing\/ca\.crt/);
    expect(lines[1]).toMatch(/provider instance "token" \(type vault\): .*auth\.tokenFile .*no-such-token \(ENOENT\)/);
    // root reads a mode-0000 file anyway; the unreadable case is only seen without root.
    if (isRoot) expect(lines).toHaveLength(2);
    else expect(lines[2]).toMatch(/provider instance "approle" \(type vault\): .*auth\.secretIdFile .*unreadable-token \(EACCES\)/);

    const settingsOnly = await keymount(['check-config', '--settings-only', file]);
    expect(settingsOnly.stderr).toBe('');
    expect(settingsOnly.code).toBe(0);
    expect(settingsOnly.stdout).toContain('ok: provider instance "ca" (type local-ca): settings valid (files not read: --settings-only)');
  });

  it('refuses bad usage with exit code 2, and a broken file with exit code 1', async () => {
    expect((await keymount(['check-config'])).code).toBe(2);
    expect((await keymount(['check-config', 'a.yaml', 'b.yaml'])).code).toBe(2);
    expect((await keymount(['check-config', '--no-such-flag', 'a.yaml'])).code).toBe(2);
    const missing = await keymount(['check-config', join(root, 'absent.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read --config');
    const notYaml = await keymount(['check-config', configFile('broken.yaml', 'providers: [\n')]);
    expect(notYaml.code).toBe(1);
    expect(notYaml.stderr).toContain('is not valid YAML');
  });
});

describe('keymount serve at start-up', () => {
  const serveArgs = (config: string): string[] => [
    'serve',
    '--config',
    config,
    '--endpoint',
    `unix://${join(root, 'csi.sock')}`,
    '--state-dir',
    join(root, 'state'),
    '--node-id',
    'check-node',
  ];

  it('refuses a config with three bad instances, listing all three errors', async () => {
    const result = await keymount(serveArgs(configFile('serve-three-bad.yaml', THREE_BAD_ONE_GOOD)));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('3 errors in 3 provider instances');
    const lines = errorLines(result.stderr);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('provider instance "aws-prod" (type aws): setting "regoin": unknown setting (did you mean "region"?)');
    expect(lines[1]).toContain('provider instance "vault-team" (type vault): setting "auth.mountPth"');
    expect(lines[2]).toContain('provider instance "certs" (type vault-pki): setting "maxIssuancesPerMinute"');
  });

  it('refuses a config whose instances name missing files, listing every such instance', async () => {
    const file = configFile(
      'serve-files.yaml',
      `providers:
  first:
    type: vault
    address: https://vault.example:8200
    caFile: ${join(root, 'missing', 'first-ca.crt')}
    auth: { type: kubernetes }
  second:
    type: vault
    address: https://vault.example:8200
    caFile: ${join(root, 'missing', 'second-ca.crt')}
    auth: { type: kubernetes }
`,
    );
    const result = await keymount(serveArgs(file));
    expect(result.code).toBe(2);
    const lines = errorLines(result.stderr);
    expect(lines).toEqual([
      expect.stringMatching(/^ {2}- provider instance "first" \(type vault\): caFile: cannot read .*first-ca\.crt \(ENOENT\)$/),
      expect.stringMatching(/^ {2}- provider instance "second" \(type vault\): caFile: cannot read .*second-ca\.crt \(ENOENT\)$/),
    ]);
  });
});
