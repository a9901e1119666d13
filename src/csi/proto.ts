/**
 * The proto-loader boundary: the one place where the untyped service
 * definitions and client constructors that @grpc/proto-loader builds at run
 * time are given the types of messages.ts.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PACKAGE_ROOT } from '../package-info.js';

export const CSI_PROTO_PATH = join(PACKAGE_ROOT, 'proto', 'csi.proto');

/** Decoding options that messages.ts is written against. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

export interface CsiDefinitions {
  readonly Identity: grpc.ServiceClientConstructor;
  readonly Controller: grpc.ServiceClientConstructor;
  readonly Node: grpc.ServiceClientConstructor;
}

export function loadCsiDefinitions(): CsiDefinitions {
  const definition = loadSync(CSI_PROTO_PATH, PROTO_LOADER_OPTIONS);
  const root = grpc.loadPackageDefinition(definition) as any;
  const v1 = root.csi.v1;
  return { Identity: v1.Identity, Controller: v1.Controller, Node: v1.Node };
}
