import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { parse as parseYaml } from 'yaml';
import { CsiClient } from '../csi/csi-client.js';
import type { StringMap } from '../csi/kubelet-context.js';
import { kubeletPublishRequest, volumeIdFor } from './kubelet-request.js';

const PUBLISH_HELP = `keymount publish: mount a volume the way the kubelet would for an inline csi: volume

Flags:
  --endpoint unix://PATH     the driver's socket (default unix:///csi/csi.sock)
  --target DIR               the mount directory; its parent is created as the kubelet does
  -a, --attribute KEY=VALUE  a volumeAttributes entry (repeatable)
  --attributes FILE.yaml     volumeAttributes as a YAML map of strings
  --pod-namespace NS         (default "default")
  --pod-name NAME            (default "keymount-try")
  --pod-uid UID              (default: a random UUID)
  --service-account SA       (default "default")
  --fs-group GID             the pod's fsGroup, sent as volume_mount_group
  --token AUDIENCE=JWT       a service-account token for an audience (repeatable)
  --secret KEY=VALUE         an entry of the request's secrets, as from nodePublishSecretRef (repeatable)
  --readonly                 the inline volume's readOnly (every keymount volume is read-only to the pod either way)
  --timeout SECONDS          the call's deadline (default 30)
`;

const UNPUBLISH_HELP = `keymount unpublish: unmount and remove a volume published with keymount publish

Flags:
  --endpoint unix://PATH     the driver's socket (default unix:///csi/csi.sock)
  --target DIR               the mount directory given to publish
  --timeout SECONDS          the call's deadline (default 30)
`;

const COMMON_OPTIONS = {
  endpoint: { type: 'string', default: 'unix:///csi/csi.sock' },
  target: { type: 'string' },
  timeout: { type: 'string', default: '30' },
  help: { type: 'boolean', short: 'h' },
} as const;

const PUBLISH_OPTIONS = {
  ...COMMON_OPTIONS,
  attribute: { type: 'string', short: 'a', multiple: true },
  attributes: { type: 'string' },
  'pod-namespace': { type: 'string', default: 'default' },
  'pod-name': { type: 'string', default: 'keymount-try' },
  'pod-uid': { type: 'string' },
  'service-account': { type: 'string', default: 'default' },
  'fs-group': { type: 'string' },
  token: { type: 'string', multiple: true },
  secret: { type: 'string', multiple: true },
  readonly: { type: 'boolean', default: false },
} as const;

class UsageError extends Error {}

function socketPathOf(endpoint: string): string {
  if (!endpoint.startsWith('unix://')) throw new UsageError('--endpoint must be unix://PATH');
  return resolve(endpoint.slice('unix://'.length));
}

function pairs(flag: string, values: readonly string[] | undefined): StringMap {
  const result: StringMap = {};
  for (const value of values ?? []) {
    const separator = value.indexOf('=');
    if (separator <= 0) throw new UsageError(`--${flag} expects KEY=VALUE, got "${value}"`);
    result[value.slice(0, separator)] = value.slice(separator + 1);
  }
  return result;
}

function attributesFile(file: string | undefined): StringMap {
  if (file === undefined) return {};
  const document: unknown = parseYaml(readFileSync(file, 'utf8'));
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new UsageError(`--attributes ${file} must hold a YAML map of volumeAttributes`);
  }
  return Object.fromEntries(Object.entries(document).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}

function timeoutMs(text: string): number {
  const seconds = Number(text);
  if (!(seconds > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  return seconds * 1000;
}

async function withUsage(help: string, action: () => Promise<number>): Promise<number> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof UsageError || (error instanceof TypeError && 'code' in error)) {
      process.stderr.write(`keymount: ${error.message}\n\n${help}`);
      return 2;
    }
    if (isServiceError(error)) {
      process.stderr.write(`keymount: ${status[error.code]}: ${error.details}\n`);
      return 1;
    }
    throw error;
  }
}

function isServiceError(error: unknown): error is ServiceError {
  return error instanceof Error && 'code' in error && typeof error.code === 'number' && 'details' in error;
}

export function publishCommand(args: string[]): Promise<number> {
  return withUsage(PUBLISH_HELP, async () => {
    const { values } = parseArgs({ args, options: PUBLISH_OPTIONS, strict: true });
    if (values.help) {
      process.stdout.write(PUBLISH_HELP);
      return 0;
    }
    if (values.target === undefined) throw new UsageError('--target is required');
    const targetPath = resolve(values.target);
    await mkdir(dirname(targetPath), { recursive: true, mode: 0o750 });
    const request = kubeletPublishRequest({
      volumeId: volumeIdFor(targetPath),
      targetPath,
      podNamespace: values['pod-namespace'],
      podName: values['pod-name'],
      podUid: values['pod-uid'] ?? randomUUID(),
      serviceAccount: values['service-account'],
      attributes: { ...attributesFile(values.attributes), ...pairs('attribute', values.attribute) },
      readOnly: values.readonly,
      fsGroup: values['fs-group'],
      tokens: pairs('token', values.token),
      secrets: pairs('secret', values.secret),
    });
    const client = new CsiClient(socketPathOf(values.endpoint));
    try {
      await client.nodePublishVolume(request, timeoutMs(values.timeout));
    } finally {
      client.close();
    }
    process.stdout.write(`published ${request.volume_id} at ${targetPath}:\n${await listVolume(targetPath)}`);
    return 0;
  });
}

export function unpublishCommand(args: string[]): Promise<number> {
  return withUsage(UNPUBLISH_HELP, async () => {
    const { values } = parseArgs({ args, options: COMMON_OPTIONS, strict: true });
    if (values.help) {
      process.stdout.write(UNPUBLISH_HELP);
      return 0;
    }
    if (values.target === undefined) throw new UsageError('--target is required');
    const targetPath = resolve(values.target);
    const client = new CsiClient(socketPathOf(values.endpoint));
    try {
      await client.nodeUnpublishVolume({ volume_id: volumeIdFor(targetPath), target_path: targetPath }, timeoutMs(values.timeout));
    } finally {
      client.close();
    }
    process.stdout.write(`unpublished ${targetPath}\n`);
    return 0;
  });
}

/** The visible files of a volume with mode, group and size, as `ls -l` would show them. */
async function listVolume(root: string): Promise<string> {
  const lines: string[] = [];
  for (const name of (await readdir(root)).sort()) {
    if (name.startsWith('..')) continue;
    const link = await lstat(join(root, name));
    const target = link.isSymbolicLink() ? await stat(join(root, name)) : link;
    lines.push(`  ${(target.mode & 0o777).toString(8).padStart(4, '0')} gid=${target.gid} ${String(target.size).padStart(6)}  ${name}`);
  }
  return `${lines.join('\n')}\n`;
}
