/**
 * The proto-loader boundary: the one place where the service definitions and
 * client constructors that @grpc/proto-loader builds at run time are given the
 * types generated from proto/csi.proto (src/generated/, `npm run gen:proto`).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../generated/csi.js';
import { PACKAGE_ROOT } from '../package-info.js';

export const CSI_PROTO_PATH = join(PACKAGE_ROOT, 'proto', 'csi.proto');

/** Decoding options; scripts/gen-proto-types.mjs passes the same ones to the type generator. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

export type CsiDefinitions = ProtoGrpcType['csi']['v1'];

let loaded: CsiDefinitions | undefined;

/** Parses csi.proto on the first call only; every server and client shares the result. */
export function loadCsiDefinitions(): CsiDefinitions {
  if (loaded === undefined) {
    const definition = loadSync(CSI_PROTO_PATH, PROTO_LOADER_OPTIONS);
    loaded = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).csi.v1;
  }
  return loaded;
}
