/**
 * AWS SDK failures → KeymountError, with a message for the pod's author.
 * AWS error messages name resources and principals, never secret values, so
 * their first line is kept (shortened) as the detail.
 */
import { KeymountError, type ErrorCode } from '../../src/provider/contract.js';

/** What was being asked for when AWS failed, for the message. */
export interface AwsCall {
  /** "Secrets Manager", "SSM Parameter Store", "STS". */
  readonly service: string;
  readonly region: string;
  /** What the call was about: `secret "db-password"`, `role "arn:…"`. */
  readonly subject: string;
  /** What an access-denied answer most likely means for this call. */
  readonly deniedHint: string;
}

const NOT_FOUND = new Set(['ResourceNotFoundException', 'ParameterNotFound', 'ParameterVersionNotFound']);
const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'DecryptionFailure',
  'KMSAccessDeniedException',
  'InvalidIdentityToken',
  'IDPRejectedClaim',
  'MissingAuthenticationToken',
]);
const THROTTLED = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'ProvisionedThroughputExceededException',
  'SlowDown',
  'PriorRequestNotComplete',
]);
/** Failures a later attempt cures: expired session credentials or pod token (fresh ones come), the IdP being slow. */
const TRANSIENT = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'IDPCommunicationError',
  'InternalServiceError',
  'InternalFailure',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_HTTP2_STREAM_ERROR',
]);
const MAX_DETAIL_LENGTH = 240;

interface SdkErrorShape {
  readonly name: string;
  readonly message: string;
  readonly code: string | undefined;
  readonly fault: string | undefined;
  readonly status: number | undefined;
  readonly throttling: boolean;
}

/**
 * Maps a failure of an AWS call. A KeymountError passes through, and so does
 * anything that is neither an AWS answer nor a network failure (a bug
 * belongs in the core's INTERNAL path with an incident ID, not in a retry).
 */
export function awsError(error: unknown, call: AwsCall): unknown {
  if (error instanceof KeymountError) return error;
  const sdk = sdkErrorShape(error);
  const code = classify(sdk);
  if (code === undefined) return error;
  const detail = `${sdk.name}: ${shorten(sdk.message)}`;
  const { service, region, subject } = call;
  switch (code) {
    case 'NOT_FOUND':
      return failure(
        'FAILED_PRECONDITION',
        `${subject} was not found in ${service} in ${region}; check the name, the version or label asked for, and the region (AWS: ${detail})`,
        error,
      );
    case 'PERMISSION_DENIED':
      return failure('PERMISSION_DENIED', `${service} in ${region} refused access to ${subject}: ${call.deniedHint} (AWS: ${detail})`, error);
    case 'UNAVAILABLE':
      return failure('UNAVAILABLE', `${service} in ${region} did not answer for ${subject}, try again later (${detail})`, error);
    default:
      return failure('FAILED_PRECONDITION', `${service} in ${region} refused the request for ${subject} (AWS: ${detail})`, error);
  }
}

/** Whether a mapped failure is worth another attempt within the deadline. */
export function isRetryable(error: unknown): boolean {
  return error instanceof KeymountError && error.code === 'UNAVAILABLE';
}

function classify(sdk: SdkErrorShape): ErrorCode | undefined {
  if (NOT_FOUND.has(sdk.name)) return 'NOT_FOUND';
  if (DENIED.has(sdk.name)) return 'PERMISSION_DENIED';
  if (THROTTLED.has(sdk.name) || sdk.throttling || TRANSIENT.has(sdk.name)) return 'UNAVAILABLE';
  if (sdk.code !== undefined && (NETWORK_CODES.has(sdk.code) || sdk.code.startsWith('UND_ERR_'))) return 'UNAVAILABLE';
  if (sdk.fault === 'server' || (sdk.status !== undefined && sdk.status >= 500)) return 'UNAVAILABLE';
  if (sdk.status === 403) return 'PERMISSION_DENIED';
  if (sdk.fault === undefined && sdk.status === undefined) return undefined;
  return 'FAILED_PRECONDITION';
}

/** The fields the SDK's ServiceException and Node's system errors carry, read without trusting their types. */
function sdkErrorShape(error: unknown): SdkErrorShape {
  const record = (typeof error === 'object' && error !== null ? error : {}) as Record<string, unknown>;
  const metadata = (record.$metadata ?? {}) as Record<string, unknown>;
  const retryable = (record.$retryable ?? {}) as Record<string, unknown>;
  const string = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  return {
    name: string(record.name) ?? 'Error',
    message: string(record.message) ?? String(error),
    code: string(record.code) ?? string(record.errno),
    fault: string(record.$fault),
    status: typeof metadata.httpStatusCode === 'number' ? metadata.httpStatusCode : undefined,
    throttling: retryable.throttling === true,
  };
}

function failure(code: ErrorCode, message: string, cause: unknown): KeymountError {
  return new KeymountError(code, message, { cause });
}

function shorten(message: string): string {
  const line = (message.split('\n')[0] ?? '').trim();
  return line.length > MAX_DETAIL_LENGTH ? `${line.slice(0, MAX_DETAIL_LENGTH)}…` : line;
}
