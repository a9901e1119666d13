import type { Provider, ProviderDependencies, ProviderType } from './contract.js';
import type { ProviderInstanceConfig } from '../config/config.js';
import { ConfigError, DEFAULT_MIN_REFRESH_INTERVAL_MS } from '../config/config.js';

/** The provider instances the admin configured, by the name pods use in the `provider` attribute. */
export interface ProviderInstance {
  readonly provider: Provider;
  readonly minRefreshIntervalMs: number;
  /** Whether pods of this namespace may use the instance (the instance's `namespaces` setting). */
  allowsNamespace(namespace: string): boolean;
}

/** The instance's `namespaces` patterns as one test; no setting allows every namespace. */
export function namespaceMatcher(patterns: readonly string[] | undefined): (namespace: string) => boolean {
  if (patterns === undefined) return () => true;
  // Patterns hold only [a-z0-9-*] (checked by the config), so only `*` needs translating.
  const expression = new RegExp(`^(?:${patterns.map((pattern) => pattern.replaceAll('*', '[a-z0-9-]*')).join('|')})$`);
  return (namespace) => expression.test(namespace);
}

export class ProviderRegistry {
  private constructor(private readonly instances: ReadonlyMap<string, ProviderInstance>) {}

  /** Creates every configured instance; any bad setting stops start-up with a message naming the instance. */
  static async create(
    config: Readonly<Record<string, ProviderInstanceConfig>>,
    types: readonly ProviderType[],
    deps: (instanceName: string) => ProviderDependencies,
  ): Promise<ProviderRegistry> {
    const typesByName = new Map(types.map((type) => [type.type, type]));
    const instances = new Map<string, ProviderInstance>();
    for (const [name, instance] of Object.entries(config)) {
      const type = typesByName.get(instance.type);
      if (type === undefined) {
        throw new ConfigError(
          `provider instance "${name}" has unknown type "${instance.type}"; known types: ${[...typesByName.keys()].join(', ')}`,
        );
      }
      try {
        const provider = await type.create(name, instance.settings, deps(name));
        instances.set(name, {
          provider,
          minRefreshIntervalMs: instance.minRefreshIntervalMs ?? DEFAULT_MIN_REFRESH_INTERVAL_MS,
          allowsNamespace: namespaceMatcher(instance.namespaces),
        });
      } catch (error) {
        throw new ConfigError(`provider instance "${name}" (type ${instance.type}): ${(error as Error).message}`, { cause: error });
      }
    }
    return new ProviderRegistry(instances);
  }

  get(name: string): ProviderInstance | undefined {
    return this.instances.get(name);
  }

  get names(): string[] {
    return [...this.instances.keys()].sort();
  }

  async close(): Promise<void> {
    await Promise.all([...this.instances.values()].map(async ({ provider }) => provider.close?.()));
  }
}
