/**
 * What the e2e tests do through the API, the way an operator would with kubectl: apply manifests, create namespaces
 * and service accounts, mint tokens with the TokenRequest API, review them with TokenReview, and watch pods.
 */
import type { ControlPlane } from './control-plane.js';
import { eventually } from './processes.js';

export interface JwtClaims {
  readonly iss?: string;
  readonly sub?: string;
  readonly aud?: string | string[];
  readonly exp?: number;
  readonly 'kubernetes.io'?: { readonly namespace?: string; readonly serviceaccount?: { readonly name?: string } };
}

export function decodeJwt(token: string): JwtClaims {
  const payload = token.split('.')[1];
  if (!payload) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JwtClaims;
}

export async function createNamespace(plane: ControlPlane, name: string): Promise<void> {
  await plane.kubectl(['create', 'namespace', name]);
}

/** The serviceaccount controller is not running here, so tests create the accounts their pods use. */
export async function createServiceAccount(plane: ControlPlane, namespace: string, name: string): Promise<void> {
  await plane.kubectl(['create', 'serviceaccount', name, '-n', namespace]);
}

/** A service-account token from the TokenRequest API (what the kubelet asks for on the driver's behalf). */
export async function mintToken(plane: ControlPlane, namespace: string, serviceAccount: string, audience: string, duration = '10m'): Promise<string> {
  return (await plane.kubectl(['create', 'token', serviceAccount, '-n', namespace, `--audience=${audience}`, `--duration=${duration}`])).trim();
}

export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly audiences?: string[];
  readonly user?: { readonly username?: string };
  readonly error?: string;
}

export async function reviewToken(plane: ControlPlane, token: string, audiences: readonly string[]): Promise<TokenReviewStatus> {
  const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } };
  const output = await plane.kubectl(['create', '-f', '-', '-o', 'json'], JSON.stringify(review));
  return (JSON.parse(output) as { status: TokenReviewStatus }).status;
}

export interface PodStatus {
  readonly phase?: string;
  readonly containerStatuses?: { readonly ready?: boolean; readonly state?: { readonly waiting?: { readonly reason?: string } } }[];
}

export interface PodObject {
  readonly metadata: { readonly uid: string; readonly name: string; readonly namespace: string };
  readonly status?: PodStatus;
}

export async function getPod(plane: ControlPlane, namespace: string, name: string): Promise<PodObject | undefined> {
  try {
    return JSON.parse(await plane.kubectl(['get', 'pod', name, '-n', namespace, '-o', 'json'])) as PodObject;
  } catch (error) {
    if (/NotFound|not found/.test((error as Error).message)) return undefined;
    throw error;
  }
}

/** The pod's events as "reason: message" lines, oldest first. */
export async function podEvents(plane: ControlPlane, namespace: string, name: string): Promise<string[]> {
  const output = await plane.kubectl(['get', 'events', '-n', namespace, '--field-selector', `involvedObject.name=${name}`, '-o', 'json']);
  const events = (JSON.parse(output) as { items: { reason?: string; message?: string; type?: string }[] }).items;
  return events.map((event) => `${event.type ?? ''} ${event.reason ?? ''}: ${event.message ?? ''}`);
}

export async function describePod(plane: ControlPlane, namespace: string, name: string): Promise<string> {
  try {
    return await plane.kubectl(['describe', 'pod', name, '-n', namespace]);
  } catch (error) {
    return (error as Error).message;
  }
}

export async function waitForPodRunning(plane: ControlPlane, namespace: string, name: string, timeoutMs = 120_000): Promise<PodObject> {
  let description = '';
  return eventually(
    `pod ${namespace}/${name} to run`,
    async () => {
      const pod = await getPod(plane, namespace, name);
      const ready = pod?.status?.phase === 'Running' && (pod.status.containerStatuses ?? []).every((status) => status.ready === true);
      if (!ready) description = await describePod(plane, namespace, name);
      return ready ? pod : undefined;
    },
    timeoutMs,
    () => description,
  );
}

export async function waitForPodGone(plane: ControlPlane, namespace: string, name: string, timeoutMs = 120_000): Promise<void> {
  await eventually(`pod ${namespace}/${name} to be deleted`, async () => ((await getPod(plane, namespace, name)) === undefined ? true : undefined), timeoutMs);
}

/** Runs a command in the pod's container through the apiserver and the kubelet (kubectl exec). */
export async function execInPod(plane: ControlPlane, namespace: string, name: string, command: readonly string[]): Promise<string> {
  return plane.kubectl(['exec', name, '-n', namespace, '--', ...command]);
}
