// @ts-check
/* global process, URL */
// Regenerates the TypeScript types of proto/*.proto into src/generated/ (run by `npm run gen:proto`).
// The flags mirror PROTO_LOADER_OPTIONS in src/csi/proto.ts, so the types describe what the loader decodes.
// An optional argument writes elsewhere: the staleness test regenerates into a temp dir and compares.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const outDir = process.argv[2] === undefined ? join(packageRoot, 'src', 'generated') : resolve(process.argv[2]);
const generator = fileURLToPath(new URL('../node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js', import.meta.url));

rmSync(outDir, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    generator,
    '--keepCase',
    '--longs=String',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--grpcLib=@grpc/grpc-js',
    // The package is an ES module with NodeNext resolution: relative imports need their extension.
    '--importFileExtension=.js',
    '--includeDirs=proto',
    `--outDir=${outDir}`,
    'csi.proto',
    'pluginregistration.proto',
  ],
  { cwd: packageRoot, stdio: 'inherit' },
);
