/**
 * The container image, checked without a Docker engine (none here): the
 * Dockerfile's stages are read as Docker reads them, the .dockerignore rules
 * are applied to the repository's real files with Docker's matching rules,
 * and the built dist/ is checked to need nothing but production dependencies.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/package-info.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Dockerfile → stages, with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      const base = (match?.[1] ?? '').replace(/\$\{(\w+)\}/g, (_all, name: string) => args.get(name) ?? '');
      stages.push({ base, name: match?.[2], instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name = '', value = ''] = instruction.args.split('=');
      args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/**
 * Docker's .dockerignore semantics: patterns in order, the last one that
 * matches a path or one of its parent directories wins, "!" re-includes.
 */
function dockerIgnored(patterns: readonly string[], path: string): boolean {
  let ignored = false;
  const prefixes = path.split('/').map((_part, index, parts) => parts.slice(0, index + 1).join('/'));
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const regex = new RegExp(`^${pattern.split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*')}$`);
    if (prefixes.some((prefix) => regex.test(prefix))) ignored = !negate;
  }
  return ignored;
}

function filesUnder(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const dockerfile = parseDockerfile(readFileSync(join(PACKAGE_ROOT, 'Dockerfile'), 'utf8'));
const runtime = dockerfile.stages.at(-1) as Stage;
const ignorePatterns = readFileSync(join(PACKAGE_ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('the Dockerfile', () => {
  it('builds in stages from a Node LTS slim Debian base pinned by tag', () => {
    expect(dockerfile.stages.map((stage) => stage.name)).toEqual(['build', 'prod-deps', 'runtime']);
    for (const stage of dockerfile.stages) {
      // An even major is an LTS line; slim Debian ships util-linux's mount and umount.
      expect(stage.base).toMatch(/^node:(2[02468])-(bookworm|trixie)-slim$/);
    }
  });

  it('compiles with the dev dependencies in the build stage, as an unprivileged user', () => {
    const build = dockerfile.stages[0] as Stage;
    const runs = build.instructions.filter((item) => item.keyword === 'RUN').map((item) => item.args);
    expect(runs).toContain('npm ci --no-audit --no-fund');
    expect(runs).toContain('npx tsc -p tsconfig.json');
    expect(build.instructions.find((item) => item.keyword === 'USER')?.args).toBe('node');
  });

  it('takes node_modules from a stage that installed production dependencies only, without install scripts', () => {
    const prodDeps = dockerfile.stages[1] as Stage;
    const install = prodDeps.instructions.filter((item) => item.keyword === 'RUN' && item.args.startsWith('npm '));
    expect(install.map((item) => item.args)).toEqual(['npm ci --omit=dev --ignore-scripts --no-audit --no-fund']);
  });

  it('copies only dist/, proto/, package*.json and the production node_modules into the runtime image', () => {
    const copies = runtime.instructions.filter((item) => item.keyword === 'COPY' || item.keyword === 'ADD').map((item) => item.args);
    expect(copies.filter((args) => args.startsWith('ADD'))).toEqual([]);
    expect(copies).toEqual([
      'package.json package-lock.json ./',
      'proto ./proto',
      '--from=prod-deps /home/node/keymount/node_modules ./node_modules',
      '--from=build /home/node/keymount/dist ./dist',
    ]);
  });

  it('runs no npm in the runtime image, removes npm, npx, corepack and npm caches, and checks mount, umount and prlimit are there', () => {
    const runs = runtime.instructions.filter((item) => item.keyword === 'RUN').map((item) => item.args);
    expect(runs.join(' ')).not.toMatch(/\bnpm (ci|install)\b/);
    const cleanup = runs.join(' ');
    for (const path of ['/usr/local/lib/node_modules', '/usr/local/bin/npm', '/usr/local/bin/npx', '/root/.npm']) expect(cleanup).toContain(path);
    expect(cleanup).toContain('command -v mount');
    expect(cleanup).toContain('command -v umount');
    expect(cleanup).toContain('command -v prlimit');
  });

  it('starts `keymount serve` from the compiled entry point with core dumps off, as root only because mounting needs it', () => {
    const last = (keyword: string): string | undefined => runtime.instructions.filter((item) => item.keyword === keyword).at(-1)?.args;
    // prlimit execs node with RLIMIT_CORE 0 (soft and hard): no core dump can carry credentials or keys to disk.
    expect(JSON.parse(last('ENTRYPOINT') ?? 'null')).toEqual(['prlimit', '--core=0:0', '--', 'node', '/app/dist/src/cli/main.js']);
    expect(JSON.parse(last('CMD') ?? 'null')).toEqual(['serve']);
    expect(last('WORKDIR')).toBe('/app');
    expect(last('USER')).toBe('0');
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(`/app/${manifest.bin.keymount ?? ''}`).toBe('/app/dist/src/cli/main.js');
  });
});

describe('the .dockerignore', () => {
  it('keeps tests, test peers, node_modules, git, build output and scratch files out of the build context', () => {
    for (const path of ['test/integration/cli.test.ts', '.peers/bin/helm', 'node_modules/yaml/package.json', '.git/HEAD', 'dist/src/driver.js', 'run/csi.sock', 'deploy/keymount.yaml', 'README.md', 'bench/x.ts', 'src/x.test.ts']) {
      expect(dockerIgnored(ignorePatterns, path), path).toBe(true);
    }
  });

  it('sends every file the image is built from', () => {
    const needed = ['package.json', 'package-lock.json', 'tsconfig.json', ...['src', 'providers', 'proto'].flatMap((dir) => filesUnder(join(PACKAGE_ROOT, dir)).map((file) => relative(PACKAGE_ROOT, file)))];
    expect(needed.length).toBeGreaterThan(20);
    expect(needed.filter((path) => dockerIgnored(ignorePatterns, path))).toEqual([]);
  });

  it('is applied with Docker\'s rules (last match wins, "!" re-includes, a directory covers its files)', () => {
    expect(dockerIgnored(['*', '!src/'], 'src/a/b.ts')).toBe(false);
    expect(dockerIgnored(['*', '!src/', '**/*.test.ts'], 'src/a/b.test.ts')).toBe(true);
    expect(dockerIgnored(['test'], 'test/unit/x.ts')).toBe(true);
    expect(dockerIgnored(['test'], 'src/test.ts')).toBe(false);
  });
});

describe('the compiled driver', () => {
  it('imports no package outside the production dependencies (what the image installs)', () => {
    const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const production = new Set(Object.keys(manifest.dependencies));
    const files = ['src', 'providers'].flatMap((dir) => filesUnder(join(PACKAGE_ROOT, 'dist', dir))).filter((file) => file.endsWith('.js'));
    expect(files.length).toBeGreaterThan(20);
    const missing = new Set<string>();
    const seen = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      // TypeScript's own scanner lists import, export-from and import() specifiers (not strings that look like them).
      for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] ?? '');
        seen.add(name);
        if (!production.has(name)) missing.add(`${name} (${relative(PACKAGE_ROOT, file)})`);
      }
    }
    expect([...missing]).toEqual([]);
    // The scan found the driver's real imports (it is not vacuous).
    expect([...seen]).toEqual(expect.arrayContaining(['@grpc/grpc-js', 'pino', 'prom-client', 'yaml', 'zod']));
  });
});
