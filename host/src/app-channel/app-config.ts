/**
 * The app's configuration, from `GET /dapr/config` (daprd `pkg/config/app_configuration.go`): the actor
 * types it hosts and their settings. mortar serves no actors yet, so it reads and logs it only.
 */
import { goFields } from '../request-json.js';

/** Actor reentrancy, as the app configures it. */
export interface AppReentrancy {
  readonly enabled: boolean;
  readonly maxStackDepth?: number;
}

/** daprd's `ApplicationConfig`; fields the app left out are absent. */
export interface AppConfig {
  readonly entities: readonly string[];
  readonly actorIdleTimeout?: string;
  readonly actorScanInterval?: string;
  readonly drainOngoingCallTimeout?: string;
  readonly drainRebalancedActors?: boolean;
  readonly reentrancy?: AppReentrancy;
  readonly remindersStoragePartitions?: number;
  /** Per-actor-type overrides, as the app sent them. */
  readonly entitiesConfig: readonly unknown[];
}

/** The field names, matched case-insensitively as Go decodes them. */
const CONFIG_FIELDS = [
  'entities',
  'actorIdleTimeout',
  'actorScanInterval',
  'drainOngoingCallTimeout',
  'drainRebalancedActors',
  'reentrancy',
  'remindersStoragePartitions',
  'entitiesConfig',
] as const;
const REENTRANCY_FIELDS = ['enabled', 'maxStackDepth'] as const;

/**
 * Reads the body of a 200 answer to `GET /dapr/config`. A field of the wrong type is left out and named
 * in `problems`; a body that is not a JSON object gives the empty configuration and one problem.
 */
export function parseAppConfig(body: unknown): { config: AppConfig; problems: string[] } {
  const problems: string[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return { config: { entities: [], entitiesConfig: [] }, problems: ['the response is not a JSON object'] };
  }
  const x = goFields(body, CONFIG_FIELDS);
  const str = (name: keyof typeof x): string | undefined => {
    const v = x[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    problems.push(`${name} is not a string`);
    return undefined;
  };
  let entities: string[] = [];
  if (Array.isArray(x.entities) && x.entities.every((e) => typeof e === 'string')) entities = x.entities as string[];
  else if (x.entities !== undefined && x.entities !== null) problems.push('entities is not a list of strings');
  let reentrancy: AppReentrancy | undefined;
  if (x.reentrancy !== null && typeof x.reentrancy === 'object' && !Array.isArray(x.reentrancy)) {
    const r = goFields(x.reentrancy, REENTRANCY_FIELDS);
    reentrancy = { enabled: r.enabled === true, maxStackDepth: typeof r.maxStackDepth === 'number' ? r.maxStackDepth : undefined };
  } else if (x.reentrancy !== undefined && x.reentrancy !== null) problems.push('reentrancy is not an object');
  let drainRebalancedActors: boolean | undefined;
  if (typeof x.drainRebalancedActors === 'boolean') drainRebalancedActors = x.drainRebalancedActors;
  else if (x.drainRebalancedActors !== undefined && x.drainRebalancedActors !== null) problems.push('drainRebalancedActors is not a boolean');
  let remindersStoragePartitions: number | undefined;
  if (Number.isInteger(x.remindersStoragePartitions)) remindersStoragePartitions = x.remindersStoragePartitions as number;
  else if (x.remindersStoragePartitions !== undefined && x.remindersStoragePartitions !== null)
    problems.push('remindersStoragePartitions is not a whole number');
  let entitiesConfig: unknown[] = [];
  if (Array.isArray(x.entitiesConfig)) entitiesConfig = x.entitiesConfig;
  else if (x.entitiesConfig !== undefined && x.entitiesConfig !== null) problems.push('entitiesConfig is not a list');
  return {
    config: {
      entities,
      actorIdleTimeout: str('actorIdleTimeout'),
      actorScanInterval: str('actorScanInterval'),
      drainOngoingCallTimeout: str('drainOngoingCallTimeout'),
      drainRebalancedActors,
      reentrancy,
      remindersStoragePartitions,
      entitiesConfig,
    },
    problems,
  };
}
