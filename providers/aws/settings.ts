/**
 * The admin's settings for one aws instance. Pods can choose objects (and,
 * when allowed, a region), never where the driver connects or whose
 * credentials it uses: that is decided here.
 */
import { z } from 'zod';
import { InvalidSettings } from '../../src/provider/contract.js';

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

/** A name pattern: "*" stands for any run of characters ("/" included), like IAM resource wildcards. */
const namePattern = z
  .string()
  .min(1, 'must not be empty')
  .max(2048, 'is longer than 2048 characters')
  .refine((pattern) => !/\p{Cc}/u.test(pattern), 'must not contain control characters');
const namePatterns = (what: string, example: string) =>
  z.array(namePattern, { error: `must be a list of ${what} name or ARN patterns such as "${example}"` }).max(1000, 'may list at most 1000 patterns').optional();

/**
 * With the node's credentials every pod of the instance reads as the driver:
 * the admin acknowledges that and lists what pods may read, per object type.
 */
const sharedIdentitySchema = z.strictObject({
  acknowledged: z.boolean({ error: 'must be true' }),
  allow: z.strictObject(
    {
      secretsmanager: namePatterns('Secrets Manager secret', 'shared/*'),
      ssmparameter: namePatterns('SSM parameter', '/shared/*'),
    },
    { error: 'must be a map {secretsmanager: [name patterns], ssmparameter: [name patterns]}' },
  ),
});

const authSchema = z
  .discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('irsa'),
      /** The audience of the pod token exchanged with STS; the CSIDriver's tokenRequests must list it. */
      audience: z.string().min(1, 'must not be empty').default(DEFAULT_AUDIENCE),
    }),
    z.strictObject({ type: z.literal('node'), sharedIdentity: sharedIdentitySchema.optional() }),
  ])
  .superRefine((auth, context) => {
    if (auth.type !== 'node') return;
    if (auth.sharedIdentity?.acknowledged !== true) {
      context.addIssue({
        code: 'custom',
        path: ['sharedIdentity'],
        message:
          'auth.type "node" makes every pod that selects this instance read with the driver\'s own AWS credentials; set ' +
          'sharedIdentity: {acknowledged: true, allow: {secretsmanager: [...], ssmparameter: [...]}} to confirm that is intended and list what pods may read',
      });
      return;
    }
    const { secretsmanager = [], ssmparameter = [] } = auth.sharedIdentity.allow;
    if (secretsmanager.length + ssmparameter.length === 0) {
      context.addIssue({
        code: 'custom',
        path: ['sharedIdentity', 'allow'],
        message: 'must list at least one secretsmanager or ssmparameter name pattern pods may read with the driver\'s credentials',
      });
    }
  });

/** Also checked by the core before any instance is created, and the source of the chart's values.schema.json. */
export const awsSettingsSchema = z
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

export type AwsSettings = z.output<typeof awsSettingsSchema>;
export type AwsAuth = AwsSettings['auth'];
export type AwsService = 'secretsmanager' | 'ssm' | 'sts';

/** Validates the admin's settings; the Error names every bad setting so the driver refuses to start with it. */
export function parseAwsSettings(instanceName: string, settings: unknown): AwsSettings {
  const result = awsSettingsSchema.safeParse(settings ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.flatMap((issue) => {
    const where = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `unknown setting "${where ? `${where}.` : ''}${key}"`);
    return [`${where || 'settings'}: ${issue.message}`];
  });
  throw new InvalidSettings('aws', instanceName, problems.join('; '));
}

/** Whether `name` (as the pod wrote it: a name or an ARN) matches one of the admin's patterns. */
export function matchesNamePattern(patterns: readonly string[], name: string): boolean {
  return patterns.some((pattern) => globMatches(pattern, name));
}

/** "*" matches any run of characters; everything else itself. Iterative, so no pattern can make it backtrack exponentially. */
function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === '*') {
      starAt = p++;
      resumeAt = t;
    } else if (p < pattern.length && pattern[p] === text[t]) {
      p++;
      t++;
    } else if (starAt !== -1) {
      p = starAt + 1;
      t = ++resumeAt;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** The endpoint the admin set for one service, if any. */
export function endpointFor(settings: AwsSettings, service: AwsService): string | undefined {
  const { endpoint } = settings;
  return typeof endpoint === 'string' ? endpoint : endpoint?.[service];
}
