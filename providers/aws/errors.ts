/**
 * AWS SDK failures → KeymountError, with a message for the pod's author.
 * AWS error messages name resources and principals, so their first line is
 * kept as the detail, sanitised and shortened: the endpoint may be hostile
 * and echo the request (request-handler.ts has already removed what the
 * request carried). The SDK's error is not kept as the cause, so its full
 * text does not reach a log line either.
 */
import {
  BackendAnswerTooLarge,
  KeymountError,
  MAX_ERROR_ANSWER_BYTES,
  sanitizeBackendText,
  type ErrorCode,
} from '../../src/provider/contract.js';

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
  // What the SDK calls STS's InvalidIdentityToken and IDPRejectedClaim codes.
  'InvalidIdentityTokenException',
  'IDPRejectedClaim',
  'IDPRejectedClaimException',
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
  'IDPCommunicationErrorException',
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
/** AWS error names are short identifiers; a longer one is not AWS's. */
const MAX_NAME_LENGTH = 64;

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
  const { service, region, subject } = call;
  if (error instanceof BackendAnswerTooLarge) return answerTooLarge(error, call);
  const sdk = sdkErrorShape(error);
  const code = classify(sdk);
  if (code === undefined) return error;
  const detail = `${sanitizeBackendText(sdk.name, [], MAX_NAME_LENGTH)}: ${shorten(sdk.message)}`;
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

/** The cause kept for logs: what kind of failure it was, never the backend's text. */
function failure(code: ErrorCode, message: string, cause: unknown): KeymountError {
  const sdk = sdkErrorShape(cause);
  return new KeymountError(code, message, {
    cause: { name: sanitizeBackendText(sdk.name, [], MAX_NAME_LENGTH), status: sdk.status, code: sdk.code, fault: sdk.fault },
  });
}

function answerTooLarge(error: BackendAnswerTooLarge, call: AwsCall): KeymountError {
  const { service, region, subject } = call;
  if (error.status >= 200 && error.status < 300) {
    return new KeymountError(
      'RESOURCE_EXHAUSTED',
      `${service} in ${region} answered for ${subject} with ${error.describe()}, more than a volume can hold ` +
        '(--max-volume-size); keymount stopped reading and closed the connection. Store a smaller value or ask the admin to raise the limit',
    );
  }
  const code: ErrorCode = error.status >= 500 ? 'UNAVAILABLE' : 'FAILED_PRECONDITION';
  return new KeymountError(
    code,
    `${service} in ${region} refused the request for ${subject} with HTTP ${error.status} and an error text of more than ${MAX_ERROR_ANSWER_BYTES} bytes (not read)`,
  );
}

/** The first line, sanitised and cut short. */
function shorten(message: string): string {
  return sanitizeBackendText((message.slice(0, 16 * 1024).split('\n')[0] ?? '').trim());
}
