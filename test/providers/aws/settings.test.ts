/** The admin's settings for an aws instance: strict, with defaults, and refusals that name the setting. */
import { describe, expect, it } from 'vitest';
import { awsProviderType } from '../../../providers/aws/index.js';
import { matchesNamePattern } from '../../../providers/aws/settings.js';
import { FakeClock, RecordingLogger } from './helpers.js';

async function create(settings: unknown): Promise<{ logger: RecordingLogger }> {
  const logger = new RecordingLogger();
  const provider = await awsProviderType.create('secrets', settings, { clock: new FakeClock(), logger });
  await provider.close?.();
  return { logger };
}

async function refusal(settings: unknown): Promise<string> {
  try {
    await create(settings);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the settings to be refused');
}

describe('aws settings', () => {
  it('needs only a region; IRSA with audience sts.amazonaws.com is the default', async () => {
    const { logger } = await create({ region: 'eu-central-1' });
    expect(logger.records.filter((record) => record.level === 'warn')).toEqual([]);
  });

  it('accepts every setting', async () => {
    await create({
      region: 'us-east-1',
      endpoint: { secretsmanager: 'https://vpce-1.secretsmanager.us-east-1.vpce.amazonaws.com', sts: 'https://sts.us-east-1.amazonaws.com' },
      failoverRegion: 'us-west-2',
      allowRegionOverride: true,
      auth: { type: 'irsa', audience: 'keymount' },
    });
  });

  it('warns at start-up that node credentials are shared by every pod', async () => {
    const { logger } = await create({ region: 'us-east-1', auth: { type: 'node', sharedIdentity: { acknowledged: true, allow: { secretsmanager: ['shared/*'] } } } });
    const warning = logger.records.find((record) => record.level === 'warn');
    expect(warning?.message).toContain("driver's own AWS credentials");
    expect(warning?.fields).toEqual({ instance: 'secrets' });
  });

  it.each([
    [{}, 'region: is required'],
    [undefined, 'region: is required'],
    [{ region: 'us-east-1', regoin: 'x' }, 'unknown setting "regoin"'],
    [{ region: 'US East' }, 'region: must be an AWS region'],
    [{ region: 'us-east-1', endpoint: 'ftp://x' }, 'endpoint'],
    [{ region: 'us-east-1', endpoint: { secretmanager: 'http://x' } }, 'endpoint'],
    [{ region: 'us-east-1', failoverRegion: 'us-east-1' }, 'failoverRegion: failoverRegion must differ from region'],
    [{ region: 'us-east-1', auth: { type: 'pod-identity' } }, 'auth.type'],
    [{ region: 'us-east-1', auth: { type: 'node', audience: 'x', sharedIdentity: { acknowledged: true, allow: { secretsmanager: ['*'] } } } }, 'unknown setting "auth.audience"'],
    [{ region: 'us-east-1', auth: { type: 'node' } }, 'auth.sharedIdentity: auth.type "node" makes every pod'],
    [{ region: 'us-east-1', auth: { type: 'irsa', audience: '' } }, 'auth.audience: must not be empty'],
    [{ region: 'us-east-1', allowRegionOverride: 'yes' }, 'allowRegionOverride'],
  ])('refuses %j naming %s', async (settings, expected) => {
    const message = await refusal(settings);
    expect(message).toContain('aws instance "secrets": invalid settings');
    expect(message).toContain(expected);
  });
});

describe('allow-list name patterns (auth.sharedIdentity.allow)', () => {
  it('match the whole name; "*" matches any run of characters, "/" included, and nothing else is special', () => {
    expect(matchesNamePattern(['shared/*'], 'shared/db')).toBe(true);
    expect(matchesNamePattern(['shared/*'], 'shared/a/b')).toBe(true);
    expect(matchesNamePattern(['shared/*'], 'sharedX/db')).toBe(false);
    expect(matchesNamePattern(['shared/*'], 'x/shared/db')).toBe(false);
    expect(matchesNamePattern(['/app/*/password'], '/app/db/password')).toBe(true);
    expect(matchesNamePattern(['/app/*/password'], '/app/db/password2')).toBe(false);
    expect(matchesNamePattern(['a.b'], 'aXb')).toBe(false);
    expect(matchesNamePattern(['Shared/*'], 'shared/db')).toBe(false);
    expect(matchesNamePattern([], 'anything')).toBe(false);
  });

  it('stay linear on hostile names', () => {
    const pattern = `${'*a'.repeat(40)}b`;
    expect(matchesNamePattern([pattern], 'a'.repeat(20_000))).toBe(false);
  });
});
