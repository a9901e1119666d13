/**
 * src/generated/ is the output of `npm run gen:proto` for proto/*.proto. A
 * proto edited without regenerating, or a generated file edited by hand, makes
 * the types lie about what the loader decodes; this regenerates into a temp dir
 * and compares every file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-info.js';

const CHECKED_IN = join(PACKAGE_ROOT, 'src', 'generated');

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}

describe('generated message types', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'keymount-gen-proto-'));
  const fresh = join(scratch, 'generated');
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('match what `npm run gen:proto` generates from proto/ today', () => {
    execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'gen-proto-types.mjs'), fresh], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    const expected = filesUnder(fresh);
    expect(expected.length).toBeGreaterThan(0);
    // Same set of files: a message added to or removed from a proto shows up here.
    expect(filesUnder(CHECKED_IN), 'src/generated/ is stale: run `npm run gen:proto`').toEqual(expected);
    const stale = expected.filter((file) => readFileSync(join(CHECKED_IN, file), 'utf8') !== readFileSync(join(fresh, file), 'utf8'));
    expect(stale, 'these generated files are stale: run `npm run gen:proto`').toEqual([]);
  });
});
