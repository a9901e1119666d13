/**
 * Canaries: seeded token, secret and password values, and the private keys
 * keymount generates, must never appear in a log line (at debug level), an
 * error message or a state file.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callError, startHarness, type Harness } from '../helpers/driver-harness.js';
import { fixedFilesProviderType } from '../helpers/test-providers.js';
import { IS_ROOT, ROOT_REASON, join } from '../helpers/system.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.canary-token-payload.canary-token-signature';
const SECRET = 'canary-nodePublishSecretRef-value';
const PASSWORD = 'canary-pkcs12-password';
const FILE_CONTENT = 'canary-file-content-from-a-provider';

describe.skipIf(!IS_ROOT)(`secrets never leak (${IS_ROOT ? 'real tmpfs' : ROOT_REASON})`, () => {
  let harness: Harness;
  const errors: string[] = [];
  const keys: string[] = [];

  beforeAll(async () => {
    harness = await startHarness({
      providerTypes: [
        fixedFilesProviderType(() => [{ path: 'secret.txt', contents: Buffer.from(FILE_CONTENT) }]),
        ...(await import('../../src/provider/built-in.js')).BUILT_IN_PROVIDER_TYPES,
      ],
      providers: { fixed: { type: 'fixed-files', settings: {} }, 'local-ca': { type: 'local-ca', settings: {} } },
    });
    const options = { tokens: { vault: TOKEN, 'sts.amazonaws.com': TOKEN, '': TOKEN }, secrets: { password: SECRET, 'pkcs12-password': PASSWORD } };

    // Successful publishes, republishes and unpublishes.
    for (const provider of ['fixed', 'local-ca']) {
      const volume = harness.newVolume();
      await harness.publish(volume, { provider }, options);
      await harness.publish(volume, { provider }, options);
      // One volume per provider stays published, so the state dir holds its records when checked.
      if (provider === 'local-ca') keys.push(readFileSync(join(volume.targetPath, 'tls.key'), 'utf8'));
      const extra = harness.newVolume();
      await harness.publish(extra, { provider }, options);
      await harness.unpublish(extra);
    }
    // Refusals of every kind, carrying the same credentials.
    const refusals: Record<string, string>[] = [{ provider: 'nope' }, { provider: 'local-ca', 'dns-names': 'x.other.svc' }, { provider: 'local-ca', typo: TOKEN }];
    for (const attributes of refusals) {
      errors.push((await callError(harness.publish(harness.newVolume(), attributes, options))).details);
    }
    const malformedTokens = harness.request(harness.newVolume(), { provider: 'fixed' });
    malformedTokens.volume_context['csi.storage.k8s.io/serviceAccount.tokens'] = `{"vault": "${TOKEN}"`;
    errors.push((await callError(harness.client.nodePublishVolume(malformedTokens))).details);
  });
  afterAll(async () => {
    await harness.stop();
  });

  it('keeps them out of every log line, even at debug level', () => {
    const logs = harness.logLines.join('\n');
    expect(logs).toContain('NodePublishVolume');
    for (const canary of [TOKEN, 'canary-token-payload', SECRET, PASSWORD, FILE_CONTENT, ...keys]) expect(logs).not.toContain(canary);
    expect(logs).not.toContain('PRIVATE KEY');
  });

  it('keeps them out of error messages (an attribute key is quoted, never a token value)', () => {
    expect(errors).toHaveLength(4);
    for (const message of errors) {
      for (const canary of ['canary-token-payload', SECRET, PASSWORD]) expect(message).not.toContain(canary);
    }
  });

  it('keeps them out of the state dir', () => {
    const directory = join(harness.stateDir, 'volumes');
    const state = readdirSync(directory)
      .map((name) => readFileSync(join(directory, name), 'utf8'))
      .join('\n');
    expect(state).toContain('"phase":"published"');
    for (const canary of ['canary-token-payload', SECRET, PASSWORD, FILE_CONTENT, 'PRIVATE KEY']) expect(state).not.toContain(canary);
  });
});
