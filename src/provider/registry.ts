import type { Provider, ProviderDependencies, ProviderType } from './contract.js';
import type { ProviderInstanceConfig } from '../config/config.js';
import { DEFAULT_MIN_REFRESH_INTERVAL_MS } from '../config/config.js';
import { checkInstanceSettings, creationProblem, instanceProblemsError, type InstanceProblem } from './settings-check.js';

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

  /**
   * Checks every instance's settings, then creates every instance. Any problem
   * stops start-up with one message listing every problem of every instance.
   */
  static async create(
    config: Readonly<Record<string, ProviderInstanceConfig>>,
    types: readonly ProviderType[],
    deps: (instanceName: string) => ProviderDependencies,
  ): Promise<ProviderRegistry> {
    const settingsProblems = checkInstanceSettings(config, types);
    if (settingsProblems.length > 0) throw instanceProblemsError(settingsProblems);
    const typesByName = new Map(types.map((type) => [type.type, type]));
    const instances = new Map<string, ProviderInstance>();
    const creationProblems: InstanceProblem[] = [];
    for (const [name, instance] of Object.entries(config)) {
      const type = typesByName.get(instance.type);
      // Known: checkInstanceSettings refused unknown types.
      if (type === undefined) continue;
      try {
        const provider = await type.create(name, instance.settings, deps(name));
        instances.set(name, {
          provider,
          minRefreshIntervalMs: instance.minRefreshIntervalMs ?? DEFAULT_MIN_REFRESH_INTERVAL_MS,
          allowsNamespace: namespaceMatcher(instance.namespaces),
        });
      } catch (error) {
        // Go on with the others, so the admin sees every instance that cannot be created at once.
        creationProblems.push(creationProblem(name, instance.type, error));
      }
    }
    const registry = new ProviderRegistry(instances);
    if (creationProblems.length > 0) {
      await registry.close();
      throw instanceProblemsError(creationProblems);
    }
    return registry;
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
