import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, found from this file whether it runs from src/ (tests) or dist/src/ (built). */
function findPackageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: string };
      if (manifest.name === 'keymount') return directory;
    } catch {
      // not here; keep walking up
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('cannot find the keymount package root');
    directory = parent;
  }
}

export const PACKAGE_ROOT = findPackageRoot();

export const PACKAGE_VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
