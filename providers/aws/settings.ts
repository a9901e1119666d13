/**
 * The admin's settings for one aws instance. Pods can choose objects (and,
 * when allowed, a region), never where the driver connects or whose
 * credentials it uses: that is decided here.
 */
import { z } from 'zod';

export const DEFAULT_AUDIENCE = 'sts.amazonaws.com';

/** us-east-1, eu-central-2, us-gov-west-1, cn-north-1, … */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

export function isAwsRegion(value: string): boolean {
  return REGION.test(value);
}

const regionSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') })
  .regex(REGION, 'must be an AWS region such as "us-east-1"');

const endpointUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** One URL for every service (an emulator), or one per service (VPC endpoints without private DNS). */
const endpointSchema = z.union([
  endpointUrl,
  z.strictObject({ secretsmanager: endpointUrl.optional(), ssm: endpointUrl.optional(), sts: endpointUrl.optional() }),
]);

const authSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('irsa'),
    /** The audience of the pod token exchanged with STS; the CSIDriver's tokenRequests must list it. */
    audience: z.string().min(1, 'must not be empty').default(DEFAULT_AUDIENCE),
  }),
  z.strictObject({ type: z.literal('node') }),
]);

const settingsSchema = z
  .strictObject({
    region: regionSchema,
    endpoint: endpointSchema.optional(),
    failoverRegion: regionSchema.optional(),
    allowRegionOverride: z.boolean().default(false),
    auth: authSchema.default({ type: 'irsa', audience: DEFAULT_AUDIENCE }),
  })
  .refine((settings) => settings.failoverRegion !== settings.region, {
    message: 'failoverRegion must differ from region',
    path: ['failoverRegion'],
  });

export type AwsSettings = z.output<typeof settingsSchema>;
export type AwsAuth = AwsSettings['auth'];
export type AwsService = 'secretsmanager' | 'ssm' | 'sts';

/** Validates the admin's settings; the Error names every bad setting so the driver refuses to start with it. */
export function parseAwsSettings(instanceName: string, settings: unknown): AwsSettings {
  const result = settingsSchema.safeParse(settings ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => {
    const where = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `unknown setting "${where ? `${where}.` : ''}${key}"`);
    return [`${where || 'settings'}: ${issue.message}`];
  });
  throw new Error(`aws instance "${instanceName}": invalid settings: ${problems.join('; ')}`);
}

/** The endpoint the admin set for one service, if any. */
export function endpointFor(settings: AwsSettings, service: AwsService): string | undefined {
  const { endpoint } = settings;
  return typeof endpoint === 'string' ? endpoint : endpoint?.[service];
}
