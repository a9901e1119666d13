/**
 * The install artifacts as an admin gets them: the Helm chart rendered by a
 * real Helm in several configurations, and the plain manifests, each object
 * validated against the Kubernetes OpenAPI schema (offline, see
 * kube-schema.ts) and checked for what keymount needs from the cluster.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_AUDIENCE as AWS_DEFAULT_AUDIENCE } from '../../providers/aws/settings.js';
import { DEFAULT_AUDIENCE as VAULT_DEFAULT_AUDIENCE } from '../../providers/vault/settings.js';
import { loadServeConfig } from '../../src/config/config.js';
import { PACKAGE_ROOT } from '../../src/package-info.js';
import { ensureHelm, helmEnv, helmTemplate, objectsOf, type KubeObject, type RenderOptions } from '../helpers/helm.js';
import { CrdSchemas } from './crd-schema.js';
import { KubeSchemas } from './kube-schema.js';
import { containerNamed, flagValue, hostPathOf, podSpecOf, podSpecProblems, volumeNamed, type Container, type PodSpec } from './pod-checks.js';

const DEPLOY = join(PACKAGE_ROOT, 'deploy');
const PLAIN_MANIFESTS = join(DEPLOY, 'keymount.yaml');
const ALL_PROVIDERS = join(DEPLOY, 'helm', 'values-all-providers.yaml');
/** Building Helm and fetching the Kubernetes module take minutes on a cold machine. */
const SETUP_TIMEOUT_MS = 25 * 60_000;

const VARIANTS: Readonly<Record<string, RenderOptions>> = {
  'the defaults': {},
  'one instance of every provider type': { values: [ALL_PROVIDERS] },
  'self-registration, no livenessprobe sidecar': { set: { 'registration.mode': 'kubelet', 'sidecars.livenessProbe.enabled': 'false' } },
  'the microk8s kubelet root': { set: { kubeletDir: '/var/snap/microk8s/common/var/lib/kubelet' } },
  'metrics off': { set: { 'metrics.enabled': 'false' } },
};

let schemas: KubeSchemas;
let scratch: string;

beforeAll(() => {
  ensureHelm();
  schemas = KubeSchemas.load();
  scratch = mkdtempSync(join(tmpdir(), 'keymount-deploy-'));
}, SETUP_TIMEOUT_MS);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function render(options: RenderOptions = {}): KubeObject[] {
  return objectsOf(helmTemplate(options));
}

function only(objects: readonly KubeObject[], kind: string): KubeObject {
  const matching = objects.filter((object) => object.kind === kind);
  expect(matching.map((object) => object.metadata.name), `exactly one ${kind}`).toHaveLength(1);
  return matching[0] as KubeObject;
}

function daemonSet(objects: readonly KubeObject[]): { spec: PodSpec; driver: Container } {
  const spec = podSpecOf(only(objects, 'DaemonSet'));
  const driver = containerNamed(spec, 'keymount');
  if (driver === undefined) throw new Error('the DaemonSet has no keymount container');
  return { spec, driver };
}

function csiDriverSpec(objects: readonly KubeObject[]): Record<string, unknown> {
  return only(objects, 'CSIDriver').spec as Record<string, unknown>;
}

function valuesFile(values: unknown): string {
  const file = join(scratch, `values-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, JSON.stringify(values));
  return file;
}

function audiences(objects: readonly KubeObject[]): string[] | undefined {
  const requests = csiDriverSpec(objects).tokenRequests as { audience: string; expirationSeconds: number }[] | undefined;
  return requests?.map((request) => request.audience);
}

describe('the plain manifests', () => {
  it('are the chart rendered with its defaults, as deploy/render.sh prints it (run it after changing the chart)', () => {
    const helmDir = dirname(ensureHelm());
    const rendered = execFileSync('bash', [join(DEPLOY, 'render.sh')], {
      env: { ...helmEnv(), PATH: `${helmDir}:${process.env.PATH ?? ''}` },
      encoding: 'utf8',
    });
    expect(readFileSync(PLAIN_MANIFESTS, 'utf8'), 'deploy/keymount.yaml is stale: run deploy/render.sh > deploy/keymount.yaml').toBe(rendered);
  });

  it('create the namespace, labelled for privileged pods, and put every namespaced object in it', () => {
    const objects = objectsOf(readFileSync(PLAIN_MANIFESTS, 'utf8'));
    const namespace = only(objects, 'Namespace');
    expect(namespace.metadata.name).toBe('keymount');
    expect((namespace.metadata.labels as Record<string, string>)['pod-security.kubernetes.io/enforce']).toBe('privileged');
    for (const object of objects.filter((item) => !['Namespace', 'CSIDriver'].includes(item.kind))) {
      expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe('keymount');
    }
  });
});

describe('every manifest', () => {
  it('passes helm lint', () => {
    expect(() => execFileSync(ensureHelm(), ['lint', join(DEPLOY, 'helm', 'keymount'), '--strict', '--kube-version', '1.37.0'], { env: helmEnv(), stdio: 'pipe' })).not.toThrow();
  });

  it.each(Object.entries(VARIANTS))('rendered with %s, is valid against the Kubernetes schema', (_name, options) => {
    const objects = render(options);
    expect(objects.length).toBeGreaterThanOrEqual(4);
    for (const object of objects) {
      expect(schemas.validate(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
      if (object.kind === 'DaemonSet') expect(podSpecProblems(podSpecOf(object)), 'pod spec rules').toEqual([]);
    }
  });

  it('of deploy/keymount.yaml is valid against the Kubernetes schema', () => {
    for (const object of objectsOf(readFileSync(PLAIN_MANIFESTS, 'utf8'))) {
      expect(schemas.validate(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
    }
  });

  it('is checked strictly: the validator refuses what the API server would', () => {
    const good = only(render(), 'DaemonSet');
    const broken = structuredClone(good) as unknown as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    const driver = broken.spec.template.spec.containers[0] as Record<string, unknown>;
    driver.volumeMount = [];
    driver.imagePullPolicy = 'Sometimes';
    (driver.resources as { limits: Record<string, unknown> }).limits.memory = 'lots';
    const problems = schemas.validate(broken);
    expect(problems).toContainEqual(expect.stringContaining('unknown field "volumeMount"'));
    expect(problems).toContainEqual(expect.stringContaining('"Sometimes" is not one of'));
    expect(problems).toContainEqual(expect.stringContaining('"lots" is not a quantity'));
  });
});

describe('the CSIDriver', () => {
  it('declares a node-only driver of ephemeral inline volumes with pod info, republish and file group', () => {
    const spec = csiDriverSpec(render());
    expect(only(render(), 'CSIDriver').metadata.name).toBe('keymount.csi.io');
    expect(spec).toMatchObject({
      attachRequired: false,
      podInfoOnMount: true,
      volumeLifecycleModes: ['Ephemeral'],
      fsGroupPolicy: 'File',
      requiresRepublish: true,
    });
  });

  it('asks for no token while no provider instance logs in as the pod (the defaults: local-ca)', () => {
    expect(audiences(render())).toBeUndefined();
    expect(audiences(objectsOf(readFileSync(PLAIN_MANIFESTS, 'utf8')))).toBeUndefined();
  });

  it('asks for a token per audience the configured providers use, matching the providers\' own defaults', () => {
    const objects = render({ values: [ALL_PROVIDERS] });
    expect(audiences(objects)).toEqual([AWS_DEFAULT_AUDIENCE, VAULT_DEFAULT_AUDIENCE].sort());
    expect(audiences(objects)).toEqual(['sts.amazonaws.com', 'vault']);
    const requests = csiDriverSpec(objects).tokenRequests as { expirationSeconds: number }[];
    for (const request of requests) expect(request.expirationSeconds).toBeGreaterThanOrEqual(600);
  });

  it.each([
    ['vault with its own audience', { type: 'vault', address: 'https://v:8200', auth: { type: 'jwt', audience: 'https://vault.example' } }, ['https://vault.example']],
    ['vault-pki with kubernetes auth', { type: 'vault-pki', address: 'https://v:8200', pkiRole: 'pods', auth: { type: 'kubernetes' } }, ['vault']],
    ['vault with the driver\'s AppRole', { type: 'vault', address: 'https://v:8200', auth: { type: 'approle', roleId: 'r', secretIdFile: '/s', sharedIdentity: { acknowledged: true, allow: ['secret/data/shared/*'] } } }, undefined],
    ['vault with a token file', { type: 'vault', address: 'https://v:8200', auth: { type: 'token', tokenFile: '/t', sharedIdentity: { acknowledged: true, allow: ['secret/data/shared/*'] } } }, undefined],
    ['aws with IRSA by default', { type: 'aws', region: 'us-east-1' }, ['sts.amazonaws.com']],
    ['aws with the node\'s credentials', { type: 'aws', region: 'us-east-1', auth: { type: 'node', sharedIdentity: { acknowledged: true, allow: { secretsmanager: ['shared/*'] } } } }, undefined],
  ])('derives the audiences of %s', (_name, instance, expected) => {
    expect(audiences(render({ values: [valuesFile({ providers: { extra: instance } })] }))).toEqual(expected);
  });

  it('adds extra audiences once each, sorted', () => {
    const file = valuesFile({ csiDriver: { tokenRequests: { extraAudiences: ['zeta', 'vault'] } } });
    expect(audiences(render({ values: [ALL_PROVIDERS, file] }))).toEqual(['sts.amazonaws.com', 'vault', 'zeta']);
  });
});

describe('the DaemonSet', () => {
  it('runs on every node, before ordinary pods, in its own namespace, without API credentials or RBAC', () => {
    const objects = render();
    const ds = only(objects, 'DaemonSet');
    const { spec } = daemonSet(objects);
    expect(ds.metadata.namespace).toBe('keymount');
    expect(spec.tolerations).toContainEqual({ operator: 'Exists' });
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.hostNetwork).toBeUndefined();
    expect(only(objects, 'ServiceAccount').automountServiceAccountToken).toBe(false);
    expect(objects.filter((object) => /Role|Binding/.test(object.kind))).toEqual([]);
  });

  it('gives the driver what mounting needs and no more: privileged, read-only root, bounded resources', () => {
    const { spec, driver } = daemonSet(render());
    expect(driver.securityContext).toMatchObject({ privileged: true, readOnlyRootFilesystem: true });
    expect(Object.keys(driver.resources?.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(driver.resources?.limits ?? {})).toContain('memory');
    for (const sidecar of spec.containers.filter((container) => container !== driver)) {
      expect(sidecar.securityContext, sidecar.name).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(sidecar.securityContext?.privileged, sidecar.name).toBeUndefined();
      expect(sidecar.resources?.limits, sidecar.name).toBeDefined();
    }
  });

  it("mounts the kubelet's pod directory at its host path with Bidirectional propagation", () => {
    const { spec, driver } = daemonSet(render());
    const mount = (driver.volumeMounts ?? []).find((item) => item.mountPropagation === 'Bidirectional');
    expect(mount?.mountPath).toBe('/var/lib/kubelet/pods');
    expect(volumeNamed(spec, mount?.name ?? '')?.hostPath).toEqual({ path: '/var/lib/kubelet/pods', type: 'Directory' });
    // Only the driver mounts tmpfs, and nothing but the pods dir and its state dir (private volume mounts) propagates.
    const stateDir = flagValue(driver, 'state-dir');
    for (const container of spec.containers) {
      for (const other of container.volumeMounts ?? []) {
        if (other === mount || (container === driver && other.mountPath === stateDir)) continue;
        expect(other.mountPropagation, `${container.name} ${other.mountPath}`).toBeUndefined();
      }
    }
  });

  it('keeps the per-volume records on the host tmpfs /run/keymount, where --state-dir points', () => {
    const { spec, driver } = daemonSet(render());
    const stateDir = flagValue(driver, 'state-dir') ?? '';
    expect(hostPathOf(spec, driver, stateDir)).toBe('/run/keymount');
    // Each volume's private tmpfs is mounted under it: those mounts must outlive the driver's container.
    expect(driver.volumeMounts?.find((mount) => mount.mountPath === stateDir)?.mountPropagation).toBe('Bidirectional');
    expect((spec.volumes ?? []).find((volume) => volume.hostPath?.path === '/run/keymount')?.hostPath?.type).toBe('DirectoryOrCreate');
  });

  it('points the registrar and livenessprobe sidecars at the socket the driver listens on, with their standard arguments', () => {
    const { spec, driver } = daemonSet(render());
    const endpoint = flagValue(driver, 'endpoint') ?? '';
    expect(endpoint).toMatch(/^unix:\/\//);
    const socketOnHost = hostPathOf(spec, driver, endpoint.slice('unix://'.length));
    expect(socketOnHost).toBe('/var/lib/kubelet/plugins/keymount.csi.io/csi.sock');

    const registrar = containerNamed(spec, 'node-driver-registrar');
    if (registrar === undefined) throw new Error('no node-driver-registrar sidecar');
    expect(registrar.image).toMatch(/^registry\.k8s\.io\/sig-storage\/csi-node-driver-registrar:v2\.\d+\.\d+$/);
    expect(hostPathOf(spec, registrar, flagValue(registrar, 'csi-address') ?? '')).toBe(socketOnHost);
    // The kubelet dials this path: it must be the socket's path on the host.
    expect(flagValue(registrar, 'kubelet-registration-path')).toBe(socketOnHost);
    expect(hostPathOf(spec, registrar, '/registration')).toBe('/var/lib/kubelet/plugins_registry');
    expect(registrar.livenessProbe?.httpGet?.port).toBe('registrar');
    expect(flagValue(registrar, 'http-endpoint')).toBe(`:${String(registrar.ports?.find((port) => port.name === 'registrar')?.containerPort)}`);

    const probe = containerNamed(spec, 'liveness-probe');
    if (probe === undefined) throw new Error('no livenessprobe sidecar');
    expect(probe.image).toMatch(/^registry\.k8s\.io\/sig-storage\/livenessprobe:v2\.\d+\.\d+$/);
    expect(hostPathOf(spec, probe, flagValue(probe, 'csi-address') ?? '')).toBe(socketOnHost);
    // The driver's liveness probe goes through the sidecar, which calls the CSI Probe.
    const livenessPort = driver.ports?.find((port) => port.name === driver.livenessProbe?.httpGet?.port)?.containerPort;
    expect(flagValue(probe, 'health-port')).toBe(String(livenessPort));
    expect(driver.livenessProbe?.httpGet?.path).toBe('/healthz');
  });

  it("probes the driver's own /readyz and exposes /metrics on the ports its flags name", () => {
    const { driver } = daemonSet(render());
    const port = (name: string): number | undefined => driver.ports?.find((item) => item.name === name)?.containerPort;
    expect(driver.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    // Health on the pod IP only (where the kubelet probes); keymount alone would serve it on 127.0.0.1.
    expect(flagValue(driver, 'health-addr')).toBe(`[$(POD_IP)]:${String(port('health'))}`);
    expect(driver.env).toContainEqual({ name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } });
    expect(flagValue(driver, 'metrics-addr')).toBe(`:${String(port('metrics'))}`);
    const annotations = (only(render(), 'DaemonSet').spec as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port('metrics')), 'prometheus.io/path': '/metrics' });

    const { driver: withoutMetrics } = daemonSet(render(VARIANTS['metrics off']));
    expect(flagValue(withoutMetrics, 'metrics-addr')).toBeUndefined();
    expect(withoutMetrics.ports?.map((item) => item.name)).not.toContain('metrics');
  });

  it('registers itself with the kubelet in registration mode "kubelet", without the registrar sidecar', () => {
    const { spec, driver } = daemonSet(render(VARIANTS['self-registration, no livenessprobe sidecar']));
    expect(spec.containers.map((container) => container.name)).toEqual(['keymount']);
    expect(flagValue(driver, 'register-with-kubelet')).toBe('true');
    const kubeletRoot = flagValue(driver, 'kubelet-root') ?? '';
    // The driver creates <kubelet-root>/plugins_registry/<driver>-reg.sock: that directory must be the host's.
    expect(hostPathOf(spec, driver, `${kubeletRoot}/plugins_registry`)).toBe('/var/lib/kubelet/plugins_registry');
    const endpoint = (flagValue(driver, 'endpoint') ?? '').slice('unix://'.length);
    expect(flagValue(driver, 'kubelet-registration-path')).toBe(hostPathOf(spec, driver, endpoint));
    // Without the livenessprobe sidecar the kubelet probes the driver's own /healthz.
    expect(driver.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
  });

  it('moves every kubelet path with kubeletDir (microk8s, k0s)', () => {
    const root = '/var/snap/microk8s/common/var/lib/kubelet';
    const objects = render(VARIANTS['the microk8s kubelet root']);
    const { spec } = daemonSet(objects);
    const hostPaths = (spec.volumes ?? []).flatMap((volume) => (volume.hostPath ? [volume.hostPath.path] : []));
    expect(hostPaths.filter((path) => path.includes('kubelet')).every((path) => path.startsWith(`${root}/`))).toBe(true);
    expect(hostPaths).toEqual(expect.arrayContaining([`${root}/pods`, `${root}/plugins_registry`, `${root}/plugins/keymount.csi.io`]));
    const registrar = containerNamed(spec, 'node-driver-registrar');
    expect(registrar && flagValue(registrar, 'kubelet-registration-path')).toBe(`${root}/plugins/keymount.csi.io/csi.sock`);
    const { driver } = daemonSet(render({ set: { kubeletDir: root, 'registration.mode': 'kubelet' } }));
    expect(flagValue(driver, 'kubelet-root')).toBe(root);
    expect(driver.volumeMounts?.find((mount) => mount.mountPropagation === 'Bidirectional')?.mountPath).toBe(`${root}/pods`);
  });
});

describe('the driver configuration the chart renders', () => {
  it.each(Object.entries(VARIANTS))('with %s, is accepted by keymount serve itself', (_name, options) => {
    const objects = render(options);
    const { spec, driver } = daemonSet(objects);
    const configMap = only(objects, 'ConfigMap');
    const configText = (configMap.data as Record<string, string>)['config.yaml'] ?? '';
    const configFile = join(scratch, 'config.yaml');
    writeFileSync(configFile, configText);
    const configFlag = flagValue(driver, 'config') ?? '';
    // The ConfigMap is mounted where --config points.
    const configMount = (driver.volumeMounts ?? []).find((mount) => configFlag.startsWith(`${mount.mountPath}/`));
    expect(volumeNamed(spec, configMount?.name ?? '')?.configMap?.name).toBe(configMap.metadata.name);

    // The kubelet expands $(VAR) from the container's env: the node's name and the pod IP.
    const args = (driver.args ?? [])
      .slice(1)
      .map((arg) => arg.replace('$(NODE_NAME)', 'node-1').replace('$(POD_IP)', '10.244.1.7').replace(`--config=${configFlag}`, `--config=${configFile}`));
    expect(driver.args?.[0]).toBe('serve');
    const config = loadServeConfig(args);
    expect(config.healthAddress?.host).toBe('10.244.1.7');
    expect(Object.keys(config.providers).sort()).toEqual(Object.keys((parseYaml(configText) as { providers: object }).providers).sort());
    expect(config.shutdownTimeoutMs / 1000).toBeLessThan(spec.terminationGracePeriodSeconds ?? 30);

    // Every file a provider instance names lies in a Secret mounted into the driver.
    const secretMounts = (driver.volumeMounts ?? []).filter((mount) => volumeNamed(spec, mount.name)?.secret !== undefined).map((mount) => mount.mountPath);
    for (const [name, instance] of Object.entries(config.providers)) {
      for (const path of filePathsIn(instance.settings)) {
        expect(secretMounts.some((mountPath) => path.startsWith(`${mountPath}/`)), `${name}: ${path} is in no mounted Secret`).toBe(true);
      }
    }
  });

  it('refuses values outside values.schema.json instead of ignoring them', () => {
    const refused = (set: Record<string, string>): string => {
      try {
        helmTemplate({ set });
      } catch (error) {
        return String((error as { stderr?: unknown }).stderr);
      }
      throw new Error(`helm accepted ${JSON.stringify(set)}`);
    };
    expect(refused({ 'registration.mode': 'registrar' })).toContain("value must be one of 'sidecar', 'kubelet'");
    expect(refused({ kubeletDir: 'var/lib/kubelet' })).toContain('/kubeletDir');
    expect(refused({ 'providers.Bad_Name.type': 'local-ca' })).toContain('Bad_Name');
    expect(refused({ metrcs: 'true' })).toContain('metrcs');
    expect(refused({ 'csiDriver.tokenRequests.expirationSeconds': '60' })).toContain('expirationSeconds');
  });
});

describe('the Prometheus Operator objects (PodMonitor, PrometheusRule)', () => {
  const MONITORING = { 'podMonitor.enabled': 'true', 'prometheusRule.enabled': 'true' };
  let crds: CrdSchemas;

  beforeAll(() => {
    crds = CrdSchemas.load(['podmonitors', 'prometheusrules']);
  }, SETUP_TIMEOUT_MS);

  it('are absent by default, so clusters without the operator\'s CRDs install the chart', () => {
    for (const options of Object.values(VARIANTS)) {
      expect(render(options).filter((object) => object.apiVersion.startsWith('monitoring.coreos.com/'))).toEqual([]);
    }
  });

  it("render when enabled, valid against the operator's CRDs, next to the DaemonSet", () => {
    const objects = render({ set: { ...MONITORING, 'podMonitor.labels.release': 'kube-prometheus-stack', 'prometheusRule.labels.release': 'kube-prometheus-stack' } });
    const podMonitor = only(objects, 'PodMonitor');
    const rule = only(objects, 'PrometheusRule');
    for (const object of [podMonitor, rule]) {
      expect(crds.validate(object), object.kind).toEqual([]);
      expect(object.metadata.namespace).toBe('keymount');
      expect(object.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'keymount' });
    }
    // The validator has teeth: what the API server would refuse, it refuses.
    const broken = structuredClone(podMonitor) as unknown as { spec: { podMetricsEndpoints: Record<string, unknown>[]; selectr?: unknown } };
    broken.spec.selectr = {};
    (broken.spec.podMetricsEndpoints[0] ?? {}).interval = 'every minute';
    expect(crds.validate(broken as unknown as KubeObject)).toEqual([
      expect.stringContaining('PodMonitor.spec.podMetricsEndpoints[0].interval: "every minute" does not match'),
      'PodMonitor.spec.selectr: unknown field',
    ]);
    // Everything else is unchanged Kubernetes.
    for (const object of objects.filter((object) => !object.apiVersion.startsWith('monitoring.coreos.com/'))) {
      expect(schemas.validate(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
    }
  });

  it("has the PodMonitor select the DaemonSet's pods and scrape the port its --metrics-addr serves", () => {
    const objects = render({ set: MONITORING });
    const podMonitor = only(objects, 'PodMonitor') as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; podMetricsEndpoints: { port: string; path: string }[] };
    };
    const template = (only(objects, 'DaemonSet') as unknown as { spec: { template: { metadata: { labels: Record<string, string> } } } }).spec.template;
    expect(template.metadata.labels).toMatchObject(podMonitor.spec.selector.matchLabels);
    expect(podMonitor.spec.namespaceSelector.matchNames).toEqual(['keymount']);
    const { driver } = daemonSet(objects);
    const port = driver.ports?.find((candidate) => candidate.name === podMonitor.spec.podMetricsEndpoints[0]?.port);
    expect(port?.containerPort).toBe(9811);
    expect(flagValue(driver, 'metrics-addr')).toBe(':9811');
    expect(podMonitor.spec.podMetricsEndpoints[0]?.path).toBe('/metrics');
  });

  it('puts the alert thresholds and routing labels from the values into the rules', () => {
    const rule = only(
      render({ set: { 'prometheusRule.enabled': 'true', 'prometheusRule.alertLabels.team': 'platform', 'prometheusRule.certificateExpiryMinutes': '45', 'prometheusRule.notReadyFor': '3m', 'prometheusRule.publishErrorRatio': '0.25' } }),
      'PrometheusRule',
    ) as unknown as { spec: { groups: { rules: { alert: string; expr: string; for: string; labels: Record<string, string> }[] }[] } };
    const rules = rule.spec.groups.flatMap((group) => group.rules);
    expect(rules.map((each) => each.alert).sort()).toEqual([
      'KeymountCertificateExpiringSoon',
      'KeymountDriverNotReady',
      'KeymountPublishErrors',
      'KeymountRefreshFailing',
      'KeymountRenewalFailing',
    ]);
    for (const each of rules) expect(each.labels.team, each.alert).toBe('platform');
    expect(rules.find((each) => each.alert === 'KeymountCertificateExpiringSoon')?.expr).toContain('< 45 * 60');
    expect(rules.find((each) => each.alert === 'KeymountDriverNotReady')?.for).toBe('3m');
    // `--set` passes a fraction as a string; the schema accepts it when it is one.
    expect(rules.find((each) => each.alert === 'KeymountPublishErrors')?.expr).toMatch(/\) > 0\.25$/);
  });

  it('refuses a PodMonitor without metrics, and bad thresholds', () => {
    const refused = (set: Record<string, string>): string => {
      try {
        helmTemplate({ set });
      } catch (error) {
        return String((error as { stderr?: unknown }).stderr);
      }
      throw new Error(`helm accepted ${JSON.stringify(set)}`);
    };
    expect(refused({ 'podMonitor.enabled': 'true', 'metrics.enabled': 'false' })).toContain('podMonitor.enabled needs metrics.enabled');
    expect(refused({ 'prometheusRule.publishErrorRatio': '2' })).toContain('publishErrorRatio');
    expect(refused({ 'prometheusRule.publishErrorRatio': 'half' })).toContain('publishErrorRatio');
    expect(refused({ 'prometheusRule.notReadyFor': 'soon' })).toContain('notReadyFor');
    expect(refused({ 'podMonitor.intervall': '1m' })).toContain('intervall');
  });
});

/** Settings whose name ends in "File": paths the driver reads at start-up. */
function filePathsIn(settings: unknown): string[] {
  if (typeof settings !== 'object' || settings === null) return [];
  return Object.entries(settings as Record<string, unknown>).flatMap(([key, value]) => {
    if (typeof value === 'string' && key.endsWith('File')) return [value];
    return filePathsIn(value);
  });
}
