/**
 * The path a new user takes: build, `keymount serve`, then `keymount publish`
 * and `keymount unpublish` from another shell, all as real processes.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { IS_ROOT, ROOT_REASON, exists, findmnt, join } from '../helpers/system.js';

const run = promisify(execFile);
const CLI = join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js');

function keymount(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return run('node', [CLI, ...args], { cwd: PACKAGE_ROOT }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: unknown) => {
      const failed = error as { stdout: string; stderr: string; code: number };
      return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
    },
  );
}

describe('the keymount command', () => {
  it('explains each command with --help', async () => {
    for (const command of [[], ['serve'], ['publish'], ['unpublish']]) {
      const result = await keymount([...command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/keymount/);
    }
    expect((await keymount(['serve', '--help'])).stdout).toContain('--max-volume-size');
    expect((await keymount(['publish', '--help'])).stdout).toContain('--attribute KEY=VALUE');
  });

  it('fails fast with a clear message on bad configuration', async () => {
    const result = await keymount(['serve', '--endpoint', 'tcp://0.0.0.0:10000']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--endpoint must be unix://PATH');
    const unknown = await keymount(['serve', '--no-such-flag']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--no-such-flag'");
  });

  describe.skipIf(!IS_ROOT)(`serve, publish, unpublish (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
    let root: string;
    let server: ChildProcess;
    let output = '';

    beforeAll(async () => {
      root = mkdtempSync(join(tmpdir(), 'keymount-cli-'));
      server = spawn('node', [CLI, 'serve', '--endpoint', `unix://${root}/csi.sock`, '--state-dir', join(root, 'state'), '--node-id', 'cli-node'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      await vi.waitFor(
        () => {
          if (!output.includes('ready: publish a volume')) throw new Error(`keymount serve is not ready yet:\n${output}`);
        },
        { timeout: 15_000, interval: 100 },
      );
    });
    afterAll(() => {
      server.kill('SIGKILL');
      rmSync(root, { recursive: true, force: true });
    });

    it('publishes a local-ca volume that openssl accepts, then removes it', async () => {
      const target = join(root, 'pods', 'try', 'mount');
      const published = await keymount([
        'publish',
        '--endpoint',
        `unix://${root}/csi.sock`,
        '--target',
        target,
        '-a',
        'provider=local-ca',
        '-a',
        'dns-names=web.${POD_NAMESPACE}.svc',
      ]);
      expect(published.stderr).toBe('');
      expect(published.code).toBe(0);
      expect(published.stdout).toMatch(/0440 gid=0 +\d+ {2}tls\.crt/);
      expect(published.stdout).toMatch(/tls\.key/);
      expect(findmnt(target)?.fstype).toBe('tmpfs');
      const verify = execFileSync('openssl', ['verify', '-CAfile', join(target, 'ca.crt'), join(target, 'tls.crt')], { encoding: 'utf8' });
      expect(verify).toContain('OK');
      const text = execFileSync('openssl', ['x509', '-in', join(target, 'tls.crt'), '-noout', '-ext', 'subjectAltName'], { encoding: 'utf8' });
      expect(text).toContain('DNS:web.default.svc');

      const unpublished = await keymount(['unpublish', '--endpoint', `unix://${root}/csi.sock`, '--target', target]);
      expect(unpublished.code).toBe(0);
      expect(exists(target)).toBe(false);
      expect(output).toContain('"method":"NodePublishVolume"');
    });

    it('shows the gRPC code and message of a refused publish', async () => {
      const result = await keymount(['publish', '--endpoint', `unix://${root}/csi.sock`, '--target', join(root, 'pods', 'bad', 'mount'), '-a', 'provider=nope']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('INVALID_ARGUMENT: volumeAttributes.provider "nope" is not a configured provider instance; configured: local-ca');
    });

    it('removes its socket when stopped', async () => {
      server.kill('SIGTERM');
      await expect.poll(() => exists(join(root, 'csi.sock')), { timeout: 10_000 }).toBe(false);
    });
  });
});
