/**
 * TypeScript shapes of the messages in proto/pluginregistration.proto, as
 * @grpc/proto-loader decodes them with the options in src/csi/proto.ts
 * (snake_case fields, defaults filled in). Hand-written; kept in step with the .proto.
 */

export type InfoRequest = Record<string, never>;

export interface PluginInfo {
  type: string;
  name: string;
  endpoint: string;
  supported_versions: string[];
}

export interface RegistrationStatus {
  plugin_registered: boolean;
  error: string;
}

export type RegistrationStatusResponse = Record<string, never>;

/** The plugin type the kubelet's CSI handler registers. */
export const CSI_PLUGIN_TYPE = 'CSIPlugin';

/** The CSI versions keymount speaks, in the form the kubelet compares (it accepts any 1.x). */
export const SUPPORTED_CSI_VERSIONS: readonly string[] = ['1.0.0'];
