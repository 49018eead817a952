/**
 * Subscriptions: what the app wants delivered, from `GET /dapr/subscribe` (programmatic) or `Subscription`
 * resources (declarative), normalised to one shape, with routing rules compiled from CEL.
 */
import { goFields } from '../../request-json.js';
import { Environment } from '@marcbachmann/cel-js';
import type { SubscriptionResource } from '../../resources/resources.js';

/** Where a subscription comes from: a resource, the app's answer, or a gRPC stream (`SubscribeTopicEventsAlpha1`). */
export type SubscriptionType = 'DECLARATIVE' | 'PROGRAMMATIC' | 'STREAMING';

export interface Rule {
  readonly match: string;
  readonly path: string;
}

export interface BulkSettings {
  readonly enabled: boolean;
  readonly maxMessagesCount: number;
  readonly maxAwaitDurationMs: number;
}

export interface Subscription {
  readonly pubsubname: string;
  readonly topic: string;
  readonly rules: readonly Rule[];
  readonly defaultPath?: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly deadLetterTopic?: string;
  readonly bulk?: BulkSettings;
  readonly type: SubscriptionType;
  /** Where it came from, for log lines (a file, or `app`). */
  readonly source: string;
}

const DEFAULT_BULK = { maxMessagesCount: 100, maxAwaitDurationMs: 1000 };

/** Paths always start with `/` (Dapr prepends one). */
export function normalisePath(p: string): string {
  return p.startsWith('/') ? p : `/${p}`;
}

export function fromResource(r: SubscriptionResource): Subscription {
  return {
    pubsubname: r.pubsubname,
    topic: r.topic,
    rules: r.rules.map((x) => ({ match: x.match, path: normalisePath(x.path) })),
    defaultPath: r.defaultPath === undefined ? undefined : normalisePath(r.defaultPath),
    metadata: r.metadata,
    deadLetterTopic: r.deadLetterTopic,
    bulk: r.bulkSubscribe?.enabled
      ? {
          enabled: true,
          maxMessagesCount: r.bulkSubscribe.maxMessagesCount ?? DEFAULT_BULK.maxMessagesCount,
          maxAwaitDurationMs: r.bulkSubscribe.maxAwaitDurationMs ?? DEFAULT_BULK.maxAwaitDurationMs,
        }
      : undefined,
    type: 'DECLARATIVE',
    source: r.file,
  };
}

/** daprd's `SubscriptionJSON` and its parts: field names match case-insensitively, as Go decodes them. */
const SUBSCRIPTION_FIELDS = ['pubsubname', 'topic', 'route', 'routes', 'metadata', 'deadLetterTopic', 'bulkSubscribe'] as const;
const ROUTES_FIELDS = ['rules', 'default'] as const;
const RULE_FIELDS = ['match', 'path'] as const;
const BULK_FIELDS = ['enabled', 'maxMessagesCount', 'maxAwaitDurationMs'] as const;

/**
 * Parses the app's answer to `GET /dapr/subscribe`. Entries without any route are dropped (as Dapr does);
 * `problems` names every entry refused and why.
 */
export function fromAppResponse(body: unknown): { subscriptions: Subscription[]; problems: string[] } {
  const subscriptions: Subscription[] = [];
  const problems: string[] = [];
  if (!Array.isArray(body)) return { subscriptions, problems: ['the response is not a JSON array'] };
  body.forEach((e: unknown, i: number) => {
    const at = `entry ${i}`;
    if (typeof e !== 'object' || e === null) {
      problems.push(`${at}: not an object`);
      return;
    }
    const x = goFields(e, SUBSCRIPTION_FIELDS);
    if (typeof x.pubsubname !== 'string' || x.pubsubname === '') {
      problems.push(`${at}: pubsubname is missing`);
      return;
    }
    if (typeof x.topic !== 'string' || x.topic === '') {
      problems.push(`${at}: topic is missing`);
      return;
    }
    const rules: Rule[] = [];
    let defaultPath = typeof x.route === 'string' && x.route !== '' ? normalisePath(x.route) : undefined;
    if (typeof x.routes === 'object' && x.routes !== null) {
      const r = goFields(x.routes, ROUTES_FIELDS);
      if (typeof r.default === 'string' && r.default !== '') defaultPath = normalisePath(r.default);
      if (Array.isArray(r.rules)) {
        for (const raw of r.rules as unknown[]) {
          const rule = raw !== null && typeof raw === 'object' ? goFields(raw, RULE_FIELDS) : undefined;
          if (rule && typeof rule.path === 'string' && rule.path !== '')
            rules.push({ match: typeof rule.match === 'string' ? rule.match : '', path: normalisePath(rule.path) });
        }
      }
    }
    if (rules.length === 0 && defaultPath === undefined) {
      problems.push(`${at} (${x.pubsubname}/${x.topic}): no route`);
      return;
    }
    const metadata: Record<string, string> = {};
    if (typeof x.metadata === 'object' && x.metadata !== null)
      for (const [k, v] of Object.entries(x.metadata)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
    const b = x.bulkSubscribe !== null && typeof x.bulkSubscribe === 'object' ? goFields(x.bulkSubscribe, BULK_FIELDS) : undefined;
    const bulk =
      b && (b.enabled === true || b.enabled === 'true')
        ? {
            enabled: true,
            maxMessagesCount: Number(b.maxMessagesCount) > 0 ? Number(b.maxMessagesCount) : DEFAULT_BULK.maxMessagesCount,
            maxAwaitDurationMs: Number(b.maxAwaitDurationMs) > 0 ? Number(b.maxAwaitDurationMs) : DEFAULT_BULK.maxAwaitDurationMs,
          }
        : undefined;
    subscriptions.push({
      pubsubname: x.pubsubname,
      topic: x.topic,
      rules,
      defaultPath,
      metadata,
      deadLetterTopic: typeof x.deadLetterTopic === 'string' && x.deadLetterTopic !== '' ? x.deadLetterTopic : undefined,
      bulk,
      type: 'PROGRAMMATIC',
      source: 'app',
    });
  });
  return { subscriptions, problems };
}

const cel = new Environment({ unlistedVariablesAreDyn: true });

type Evaluate = (ctx: Record<string, unknown>) => unknown;

/** Chooses the app path for an event: the first rule whose CEL `match` is true, else the default. */
export class Router {
  readonly #rules: Array<{ path: string; test?: Evaluate; match: string }>;

  /** Throws when a rule does not compile, naming the rule. */
  constructor(readonly sub: Subscription) {
    this.#rules = sub.rules.map((r, i) => {
      if (r.match.trim() === '') return { path: r.path, match: r.match };
      try {
        return { path: r.path, match: r.match, test: cel.parse(r.match) as unknown as Evaluate };
      } catch (err) {
        throw new Error(`rule ${i} match '${r.match}': ${(err as Error).message.split('\n')[0]}`);
      }
    });
  }

  /** The path for `event`, or undefined when no rule matches and there is no default (the event is dropped). */
  route(event: Record<string, unknown>): string | undefined {
    for (const r of this.#rules) {
      if (!r.test) return r.path;
      try {
        if (r.test({ event }) === true) return r.path;
      } catch {
        // A rule that cannot be evaluated for this event (a missing field) does not match it.
      }
    }
    return this.sub.defaultPath;
  }
}
