/** The proto-loader boundary of the kubelet registration API: the one place its run-time definitions get types. */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '../csi/proto.js';
import { PACKAGE_ROOT } from '../package-info.js';

export const REGISTRATION_PROTO_PATH = join(PACKAGE_ROOT, 'proto', 'pluginregistration.proto');

export function loadRegistrationService(): grpc.ServiceClientConstructor {
  const definition = loadSync(REGISTRATION_PROTO_PATH, PROTO_LOADER_OPTIONS);
  const root = grpc.loadPackageDefinition(definition) as unknown as { pluginregistration: { Registration: grpc.ServiceClientConstructor } };
  return root.pluginregistration.Registration;
}
