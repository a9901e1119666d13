/**
 * The objects an operator applies to install and use keymount: the plain manifests under deploy/ (keymount.yaml
 * and the examples) and the Helm chart rendered with its default values and with the all-providers example values.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../../src/package-info.js';
import { helmTemplate, objectsOf, type KubeObject } from '../../helpers/helm.js';

export const DEPLOY_DIR = join(PACKAGE_ROOT, 'deploy');
export const ALL_PROVIDERS_VALUES = join(DEPLOY_DIR, 'helm', 'values-all-providers.yaml');

export interface ManifestSource {
  /** Where the objects come from, for messages. */
  readonly name: string;
  readonly objects: readonly KubeObject[];
  /** The namespace to apply namespaced objects without one into (kubectl -n). */
  readonly namespace?: string;
}

function yamlFilesUnder(dir: string, skip: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((entry) => {
      const path = join(dir, entry);
      if (path === skip) return [];
      if (statSync(path).isDirectory()) return yamlFilesUnder(path, skip);
      return /\.ya?ml$/.test(entry) ? [path] : [];
    });
}

/** deploy/**.yaml except the Helm chart's folder (applied rendered instead). */
export function plainManifestFiles(): string[] {
  return yamlFilesUnder(DEPLOY_DIR, join(DEPLOY_DIR, 'helm'));
}

/** Every way deploy/ installs keymount, plus its examples (applied into their own namespace). */
export function deploySources(): ManifestSource[] {
  const plain = plainManifestFiles().map((file) => {
    const name = relative(PACKAGE_ROOT, file);
    const objects = objectsOf(readFileSync(file, 'utf8'));
    return name.startsWith('deploy/examples/') ? { name, objects, namespace: 'examples' } : { name, objects };
  });
  return [
    ...plain,
    { name: 'helm template deploy/helm/keymount', objects: objectsOf(helmTemplate()) },
    { name: `helm template deploy/helm/keymount -f ${relative(PACKAGE_ROOT, ALL_PROVIDERS_VALUES)}`, objects: objectsOf(helmTemplate({ values: [ALL_PROVIDERS_VALUES] })) },
  ];
}

/** The chart's CSIDriver when every provider type is configured: it asks for the AWS and Vault token audiences. */
export function allProvidersCsiDriver(): KubeObject {
  const csiDriver = objectsOf(helmTemplate({ values: [ALL_PROVIDERS_VALUES] })).find((object) => object.kind === 'CSIDriver');
  if (!csiDriver) throw new Error('the Helm chart renders no CSIDriver');
  return csiDriver;
}

export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((object) => stringify(object)).join('---\n');
}
