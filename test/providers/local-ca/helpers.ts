/**
 * Shared fixtures for the local-ca tests: a fake clock and logger, a pod,
 * helpers that drive the provider through its public API, and openssl.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { localCaProviderType } from '../../../providers/local-ca/index.js';
import {
  KeymountError,
  Sensitive,
  isUnchanged,
  type Clock,
  type ErrorCode,
  type FetchResult,
  type PodIdentity,
  type Provider,
  type ProviderLogger,
  type Unchanged,
} from '../../../src/provider/contract.js';

const runFile = promisify(execFile);

export const POD: PodIdentity = {
  namespace: 'shop',
  name: 'web-0',
  uid: '0b6f3c1e-4d0a-4c55-9a43-2f3f5f6f7a8b',
  serviceAccountName: 'web',
};

/** Real "now", frozen, so that openssl (which uses the real clock) accepts what is issued. */
export class FakeClock implements Clock {
  constructor(private current: Date = new Date(Math.floor(Date.now() / 1000) * 1000)) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(milliseconds: number): void {
    this.current = new Date(this.current.getTime() + milliseconds);
  }
}

export interface LogRecord {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

export class RecordingLogger implements ProviderLogger {
  readonly records: LogRecord[] = [];
  debug(fields: Record<string, unknown>, message: string): void {
    this.records.push({ level: 'debug', fields, message });
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.records.push({ level: 'info', fields, message });
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.records.push({ level: 'warn', fields, message });
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.records.push({ level: 'error', fields, message });
  }
}

export interface TestInstance {
  readonly provider: Provider;
  readonly clock: FakeClock;
  readonly logger: RecordingLogger;
}

export async function createLocalCa(
  settings: unknown = {},
  clock = new FakeClock(),
  instanceName = 'test-ca',
): Promise<TestInstance> {
  const logger = new RecordingLogger();
  const provider = await localCaProviderType.create(instanceName, settings, { clock, logger });
  return { provider, clock, logger };
}

/** What a user would look at in the mounted volume. */
export interface IssuedVolume {
  readonly result: FetchResult;
  readonly paths: readonly string[];
  file(path: string): Buffer;
  /** The first certificate of the certificate file. */
  readonly certificate: X509Certificate;
  readonly caCertificate: X509Certificate;
  readonly privateKey: KeyObject;
}

export interface FileNames {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}
const DEFAULT_FILE_NAMES: FileNames = { certificate: 'tls.crt', privateKey: 'tls.key', ca: 'ca.crt' };

export interface FetchOptions {
  pod?: PodIdentity;
  signal?: AbortSignal;
  volumeId?: string;
  /** The request's secrets (nodePublishSecretRef). */
  secrets?: Record<string, string>;
  /** What the core recorded from the last fetch; empty for a first publish. */
  previousVersions?: Record<string, string>;
}

export const VOLUME_ID = 'csi-test-volume';

/** parseAttributes + fetch, as the core does; the raw outcome (FetchResult or UNCHANGED). */
export async function fetchOutcome(
  provider: Provider,
  attributes: Record<string, string> = {},
  options: FetchOptions = {},
): Promise<FetchResult | Unchanged> {
  const pod = options.pod ?? POD;
  const parsed = provider.parseAttributes(attributes, pod);
  return provider.fetch(
    {
      volumeId: options.volumeId ?? VOLUME_ID,
      attributes: parsed,
      pod,
      tokens: new Map(),
      secrets: new Sensitive(options.secrets ?? {}),
      previousVersions: options.previousVersions ?? {},
    },
    options.signal ?? new AbortController().signal,
  );
}

/** parseAttributes + fetch, as the core does for a mount; the outcome must be new files. */
export async function issue(
  provider: Provider,
  attributes: Record<string, string> = {},
  options: FetchOptions & { fileNames?: FileNames } = {},
): Promise<IssuedVolume> {
  const outcome = await fetchOutcome(provider, attributes, options);
  if (isUnchanged(outcome)) throw new Error('local-ca answered "unchanged" where a certificate was expected');
  const result = outcome;
  const file = (path: string): Buffer => {
    const found = result.files.find((candidate) => candidate.path === path);
    if (found === undefined) throw new Error(`no file ${path} in ${result.files.map((f) => f.path).join(', ')}`);
    return found.contents;
  };
  const names = options.fileNames ?? DEFAULT_FILE_NAMES;
  return {
    result,
    paths: result.files.map((f) => f.path),
    file,
    certificate: new X509Certificate(file(names.certificate)),
    caCertificate: new X509Certificate(file(names.ca)),
    privateKey: createPrivateKey(file(names.privateKey)),
  };
}

/** Runs `action` and returns the KeymountError it throws, after checking its code. */
export async function expectKeymountError(action: () => unknown, code: ErrorCode): Promise<KeymountError> {
  let thrown: unknown;
  try {
    await action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(KeymountError);
  const error = thrown as KeymountError;
  expect(error.code).toBe(code);
  return error;
}

/** All PEM certificate blocks of a file. */
export function pemCertificates(pem: Buffer | string): string[] {
  return pem.toString().match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
}

// --- temp files and openssl ------------------------------------------------

export async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'keymount-local-ca-'));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function openssl(args: readonly string[], cwd: string): Promise<string> {
  const { stdout, stderr } = await runFile('openssl', args, { cwd });
  return stdout + stderr;
}

/** Writes the volume's files into `dir`, as the core would. */
export async function writeVolume(dir: string, volume: IssuedVolume): Promise<void> {
  for (const file of volume.result.files) await writeFile(join(dir, file.path), file.contents);
}

export interface OpensslCa {
  readonly certFile: string;
  readonly keyFile: string;
}

/** How openssl writes the CA key: "EC PRIVATE KEY" (P-256), "RSA PRIVATE KEY", or PKCS#8 "PRIVATE KEY" (P-384). */
export type CaKeyFormat = 'sec1' | 'pkcs1' | 'pkcs8';

const KEY_COMMANDS: Readonly<Record<CaKeyFormat, (keyFile: string) => string[]>> = {
  sec1: (keyFile) => ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile],
  pkcs1: (keyFile) => ['genrsa', '-traditional', '-out', keyFile, '2048'],
  pkcs8: (keyFile) => ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', keyFile],
};

/** A self-signed root CA made by openssl. */
export async function generateOpensslCa(
  dir: string,
  options: { name?: string; days?: number; keyFormat?: CaKeyFormat; isCA?: boolean } = {},
): Promise<OpensslCa> {
  const name = options.name ?? 'root';
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await openssl(KEY_COMMANDS[options.keyFormat ?? 'sec1'](keyFile), dir);
  const constraints = options.isCA === false ? 'critical,CA:FALSE' : 'critical,CA:TRUE';
  await openssl(
    [
      'req', '-x509', '-key', keyFile, '-out', certFile, '-days', String(options.days ?? 30),
      '-subj', `/C=DE/O=Keymount Test/CN=Test ${name} CA`,
      '-addext', `basicConstraints=${constraints}`,
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ],
    dir,
  );
  return { certFile, keyFile };
}

/** An intermediate CA signed by `root`. */
export async function generateOpensslIntermediateCa(dir: string, root: OpensslCa): Promise<OpensslCa> {
  const certFile = join(dir, 'intermediate.crt');
  const keyFile = join(dir, 'intermediate.key');
  const csrFile = join(dir, 'intermediate.csr');
  const extFile = join(dir, 'intermediate.ext');
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], dir);
  await openssl(['req', '-new', '-key', keyFile, '-out', csrFile, '-subj', '/O=Keymount Test/CN=Test intermediate CA'], dir);
  await writeFile(
    extFile,
    'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
  );
  await openssl(
    ['x509', '-req', '-in', csrFile, '-CA', root.certFile, '-CAkey', root.keyFile, '-CAcreateserial',
      '-days', '30', '-extfile', extFile, '-out', certFile],
    dir,
  );
  return { certFile, keyFile };
}
