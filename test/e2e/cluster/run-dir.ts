/**
 * One directory per e2e run holds every daemon's state (etcd data, containerd's root, the kubelet's root, keymount's
 * state), so teardown can prove nothing is left: it unmounts whatever is still mounted below it, deepest first,
 * and removes it all except the daemons' logs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { progress } from './processes.js';

export function createRunDir(): string {
  const root = process.env.KEYMOUNT_E2E_RUN_ROOT ?? '/tmp';
  return mkdtempSync(join(root, 'keymount-e2e-'));
}

/** Mount points at or below `dir`, from this process's mount table, deepest first. */
export function mountsBelow(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((target): target is string => target !== undefined)
    .map((target) => target.replace(/\\(\d{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((target) => target === dir || target.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything below `dir` and deletes all of it but `logs/`. Returns the mounts it had to remove. */
export function cleanRunDir(dir: string): string[] {
  const leftovers = mountsBelow(dir);
  for (const target of leftovers) {
    try {
      execFileSync('umount', [target], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', target], { stdio: 'ignore' });
    }
  }
  for (const entry of readdirSync(dir)) {
    if (entry !== 'logs') rmSync(join(dir, entry), { recursive: true, force: true });
  }
  progress(`run directory cleaned; logs kept in ${join(dir, 'logs')}`);
  return leftovers;
}
