/** The proto-loader boundary of the kubelet registration API: the one place its run-time definitions get their generated types. */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '../csi/proto.js';
import type { ProtoGrpcType } from '../generated/pluginregistration.js';
import { PACKAGE_ROOT } from '../package-info.js';

export const REGISTRATION_PROTO_PATH = join(PACKAGE_ROOT, 'proto', 'pluginregistration.proto');

export type RegistrationService = ProtoGrpcType['pluginregistration']['Registration'];

let loaded: RegistrationService | undefined;

/** Parses pluginregistration.proto on the first call only. */
export function loadRegistrationService(): RegistrationService {
  if (loaded === undefined) {
    const definition = loadSync(REGISTRATION_PROTO_PATH, PROTO_LOADER_OPTIONS);
    loaded = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).pluginregistration.Registration;
  }
  return loaded;
}
