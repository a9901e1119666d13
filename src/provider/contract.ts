/**
 * The provider contract: the only part of keymount's core that providers
 * (providers/<name>/) may import.
 *
 * A provider turns a pod's request into files. It returns data and never
 * touches the disk: it does not learn the target path, and the core validates
 * every returned path, mode and size before writing anything (the boundary the
 * secrets-store CSI driver draws, hardened against CVE-2020-8567).
 */
import type { ZodType } from 'zod';
import type { Sensitive } from '../redaction.js';

export { Sensitive } from '../redaction.js';
/** Go-style durations ("24h", "1h30m") and Kubernetes-style sizes ("4Mi"), parsed as everywhere in keymount. */
export { parseDuration, parseSize } from '../config/units.js';
/** Caps on what a backend answers: its size, and its error text in messages and logs. */
export {
  BackendAnswerTooLarge,
  DEFAULT_BACKEND_ANSWER_LIMIT,
  FETCH_ANSWER_BUDGET_FACTOR,
  MAX_BACKEND_TEXT_LENGTH,
  MAX_ERROR_ANSWER_BYTES,
  backendAnswerLimit,
  redactRequestSecrets,
  sanitizeBackendText,
  spendAnswerBytes,
} from './backend-answers.js';
/** "Did you mean": the known name nearest a misspelt one. */
export { closestMatch } from '../suggest.js';
/** The core's rules for untrusted text: quote it in messages with excerpt(); refuse control characters in file names. */
export { excerpt, excerptIfLong, parserMessage, controlCharacterReason } from '../untrusted-text.js';
export {
  KeymountError,
  invalidArgument,
  permissionDenied,
  failedPrecondition,
  notFound,
  unavailable,
  resourceExhausted,
  type ErrorCode,
} from '../errors.js';

/** Wall-clock time, injectable so certificate validity can be tested. */
export interface Clock {
  now(): Date;
}

/** The log interface providers receive; records pass through the redacting serializer. */
export interface ProviderLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** Who the volume is for, from the kubelet's pod info (podInfoOnMount). */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccountName: string;
}

/** A projected service-account token for one audience ("" = the apiserver's default audiences). */
export interface ServiceAccountToken {
  readonly token: Sensitive<string>;
  readonly expiresAt: Date | undefined;
}

export interface FetchRequest<Attributes> {
  /**
   * The CSI volume ID: an opaque handle for state the provider keeps in memory
   * for this volume (leases to renew, credentials to reuse), dropped in release().
   */
  readonly volumeId: string;
  /** The provider's own attributes, as returned by its parseAttributes(). */
  readonly attributes: Attributes;
  readonly pod: PodIdentity;
  /** The pod's service-account tokens by audience (CSIDriver tokenRequests). */
  readonly tokens: ReadonlyMap<string, ServiceAccountToken>;
  /** The request's `secrets` (nodePublishSecretRef), never logged. */
  readonly secrets: Sensitive<Readonly<Record<string, string>>>;
  /**
   * Object versions from the last successful fetch of this volume; empty on
   * the first fetch. A provider that can tell from them that nothing changed
   * answers UNCHANGED instead of downloading again.
   */
  readonly previousVersions: Readonly<Record<string, string>>;
}

/** One file for the volume. `path` is relative to the volume root; the core checks it. */
export interface ProviderFile {
  readonly path: string;
  /** Permission bits; the volume's fileMode attribute applies when absent. */
  readonly mode?: number;
  readonly contents: Buffer;
}

export interface FetchResult {
  readonly files: readonly ProviderFile[];
  /** An opaque version per object, so a later refresh can skip unchanged objects. */
  readonly versions: Readonly<Record<string, string>>;
  /** When the content stops being valid (a certificate's notAfter), if it does. */
  readonly notAfter?: Date;
  /**
   * When the provider wants to be asked again even without a kubelet
   * republish (a certificate's renew-before point), if ever.
   */
  readonly refreshAt?: Date;
}

/** The answer of a refresh when every object still has its previous version: the core keeps the files it has. */
export interface Unchanged {
  readonly unchanged: true;
  readonly refreshAt?: Date;
}

export const UNCHANGED: Unchanged = Object.freeze({ unchanged: true });

export function isUnchanged(outcome: FetchResult | Unchanged): outcome is Unchanged {
  return 'unchanged' in outcome;
}

/** A configured provider instance, selected by pods through the `provider` attribute. */
export interface Provider<Attributes = unknown> {
  /** The provider type, e.g. "local-ca". */
  readonly type: string;
  /** Every volumeAttributes key this provider understands (others are reported as typos). */
  readonly attributeKeys: readonly string[];
  /**
   * Validates and normalises the provider's attributes (a pure function, run
   * before any side effect). Throws invalidArgument() naming the bad key.
   */
  parseAttributes(attributes: Readonly<Record<string, string>>, pod: PodIdentity): Attributes;
  /**
   * Produces the volume's files. The signal is aborted when the CSI call's
   * deadline or keymount's provider timeout passes. Throw KeymountError with a
   * code: UNAVAILABLE for what a retry may cure, another code for what needs
   * the user or admin to act.
   */
  fetch(request: FetchRequest<Attributes>, signal: AbortSignal): Promise<FetchResult | Unchanged>;
  /**
   * The volume is being unpublished: revoke what was obtained for it (leases,
   * tokens) and drop its in-memory state. Failures are logged, never block
   * the unpublish.
   */
  release?(volumeId: string, signal: AbortSignal): Promise<void>;
  /** Releases clients and timers at shutdown. */
  close?(): Promise<void>;
}

export interface ProviderDependencies {
  readonly clock: Clock;
  readonly logger: ProviderLogger;
  /**
   * The most bytes one backend answer may have (backendAnswerLimit() of
   * --max-volume-size): a transport stops reading and closes the connection
   * past it, and past FETCH_ANSWER_BUDGET_FACTOR times it for the answers of
   * one fetch together (spendAnswerBytes()). Absent: DEFAULT_BACKEND_ANSWER_LIMIT.
   */
  readonly maxAnswerBytes?: number;
}

/**
 * What create() throws for settings it refuses (a bad value, a file it cannot
 * read). `detail` names the setting but not the instance, so the core can name
 * the instance once; the message names both for callers that show it as is.
 */
export class InvalidSettings extends Error {
  override readonly name = 'InvalidSettings';
  constructor(
    typeName: string,
    instanceName: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`${typeName} instance "${instanceName}": invalid settings: ${detail}`, options);
  }
}

/** A kind of provider; the admin's config names instances of it. */
export interface ProviderType {
  readonly type: string;
  /**
   * The shape and values of one instance's settings, without side effects.
   * The core checks every instance against it before creating any (so an
   * admin sees every error at once, in `keymount check-config` and at
   * start-up), and the Helm chart's values.schema.json is generated from it.
   * Types without one are checked by create() alone.
   */
  readonly settingsSchema?: ZodType;
  /**
   * Validates the admin's settings for one instance and builds it: reads the
   * files the settings name (CA keys, token files), with no network call.
   * Runs at start-up and in `keymount check-config`: throw InvalidSettings
   * naming the bad setting, and the driver refuses to start.
   */
  create(instanceName: string, settings: unknown, deps: ProviderDependencies): Promise<Provider>;
}
