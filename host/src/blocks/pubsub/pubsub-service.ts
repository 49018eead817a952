/**
 * The pub/sub building block: publishing (CloudEvents, scopes, errors as Dapr reports them) and the
 * subscriptions this app has, each component's served by one delivery loop.
 */
import type { Logger } from '../../logger.js';
import { GrpcCode, MortarError } from '../../errors.js';
import type { ActiveComponent, ComponentRegistry } from '../../components/registry.js';
import { ComponentCallError } from '../../components/sandbox/pool.js';
import type { SubscriptionResource } from '../../resources/resources.js';
import type { AppTarget } from '../app-target.js';
import { envelope, publishMetadata } from './cloudevents.js';
import { topicAllowed } from './scopes.js';
import { fromResource, Router, type Subscription } from './subscription.js';
import { DeliveryLoop } from './delivery.js';
import type { Fallback, Resiliency } from '../resiliency/resiliency.js';
import { PublishBatcher, type WitPublishRequest } from './publish-batcher.js';
import { brokerClient, publishError, type BulkFailure } from './broker-client.js';

export interface PublishRequest {
  readonly pubsub: string;
  readonly topic: string;
  readonly body: Buffer;
  readonly contentType?: string;
  readonly metadata: Record<string, string>;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/**
 * One entry of a bulk publish (gRPC `BulkPublishRequestEntry`): its event as the bytes to publish, in
 * `contentType`, with its own metadata, if any (merged over the request's, the entry's keys winning).
 */
export interface BulkPublishEntry {
  readonly entryId: string;
  readonly event: Uint8Array;
  readonly contentType: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** A streaming subscription asked for (gRPC `SubscribeTopicEventsRequestInitialAlpha1`). */
export interface StreamSubscribeRequest {
  readonly pubsub: string;
  readonly topic: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly deadLetterTopic?: string;
}

/** A streaming subscription in force: its delivery loop runs until `close`. */
export interface StreamSubscription {
  readonly subscription: Subscription;
  /**
   * Ends the subscription. Deliveries in flight get up to `graceMs` (0: none) to be answered; then the
   * target is closed (`closeTarget`, which must reject what is still unanswered), every unanswered message
   * goes back to the broker (nacked, never dead-lettered) and every answered one is settled.
   */
  close(graceMs: number, closeTarget: () => void): Promise<void>;
}

/**
 * The most streaming subscriptions open at once in one sidecar (daprd sets none). Each runs a delivery loop
 * that polls its broker every 100 ms while idle, on the API thread's event loop, so a client opening streams
 * without end would slow every other one; past this, a new stream is refused with RESOURCE_EXHAUSTED.
 */
export const MAX_STREAM_SUBSCRIPTIONS = 1024;
/** How long deliveries in flight to a stream get when its loop is replaced (a reloaded component). */
const STREAM_CLOSE_GRACE_MS = 5000;
/** How long a closed stream's deliveries get to settle once its target has rejected them (they do at once). */
const STREAM_SETTLE_MS = 1000;

export interface PubSubOptions {
  /** The app whose subscriptions this serves (its consumer group, its subscription scopes). */
  readonly appId: string;
  /** This sidecar within its app's consumer groups (see `sidecarId`). */
  readonly consumer: string;
  readonly logger: Logger;
  /** Retry, timeout and circuit-breaker policies for deliveries (inbound) and publishes (outbound). */
  readonly resiliency: Resiliency;
  readonly maxInFlight?: number;
  readonly appTimeoutMs?: number;
}

/**
 * Delivery retries when no Resiliency resource sets them: constant 250 ms, 5 retries (the
 * `DefaultComponentInboundRetryPolicy` of the js-sdk's resiliency.yaml), then the broker redelivers.
 */
const DEFAULT_INBOUND: Fallback = { retry: { policy: 'constant', durationMs: 250, maxIntervalMs: 60_000, maxRetries: 5 } };
/** First wait before subscribing again after the broker refused or could not be reached; doubles up to the max. */
const RETRY_SUBSCRIBE_MS = 500;
const RETRY_SUBSCRIBE_MAX_MS = 10_000;
/**
 * The longest the runtime's readiness waits for the app's subscriptions to be established at their brokers
 * (see `whenEstablished`). daprd blocks its readiness on each component's `Subscribe` (RabbitMQ's waits up to
 * a minute for its queue) and then logs the failures and retries them in the background; mortar waits up to
 * this long in all, then logs the subscriptions still missing and becomes ready, retrying them with backoff.
 */
export const SUBSCRIBE_READY_TIMEOUT_MS = 10_000;

export class PubSubService {
  #declarative: Subscription[] = [];
  #programmatic: Subscription[] = [];
  /** Delivery loops by component name. */
  readonly #loops = new Map<string, DeliveryLoop>();
  /** The streaming subscriptions in force, each with its own delivery loop (on the component's `streams` lane). */
  readonly #streams = new Set<StreamEntry>();
  #app?: AppTarget;
  #reconciling: Promise<void> = Promise.resolve();
  #closed = false;
  #retryTimer?: NodeJS.Timeout;
  #subscribeFailures = 0;
  /**
   * Topics not (yet) established at their broker, by component: set before a delivery loop starts, cleared
   * once its `subscribe` calls returned, kept while a failed start is retried.
   */
  readonly #pending = new Map<string, string[]>();
  /** Reconciliations scheduled and not finished. */
  #queued = 0;
  /** Woken after every reconciliation (see `whenEstablished`). */
  #waiters: Array<() => void> = [];
  /** Publish coalescing, per running version of a component that has a native bulk publish. */
  readonly #batchers = new WeakMap<ActiveComponent, PublishBatcher>();

  constructor(
    readonly registry: ComponentRegistry,
    readonly opts: PubSubOptions,
  ) {}

  /** Finds a pub/sub component; ERR_PUBSUB_EMPTY / _NOT_CONFIGURED / _NOT_FOUND as Dapr reports them. */
  component(name: string): ActiveComponent {
    if (name === '') throw new MortarError('ERR_PUBSUB_EMPTY');
    const c = this.registry.get(name);
    if (c?.block === 'pubsub') return c;
    if (this.registry.byBlock('pubsub').length === 0) throw new MortarError('ERR_PUBSUB_NOT_CONFIGURED');
    throw new MortarError('ERR_PUBSUB_NOT_FOUND', [name]);
  }

  /** Publishes one message through `c`: coalesced with concurrent ones where the broker batches natively. */
  #send(c: ActiveComponent, req: WitPublishRequest): Promise<unknown> {
    return this.opts.resiliency.outbound(c, 'pubsub', (timeoutMs) => this.#sendOnce(c, req, timeoutMs));
  }

  #sendOnce(c: ActiveComponent, req: WitPublishRequest, timeoutMs: number): Promise<unknown> {
    if (!c.features.includes('BULK_PUBLISH')) return brokerClient(c.pool).publish(req, timeoutMs);
    let b = this.#batchers.get(c);
    if (!b) this.#batchers.set(c, (b = new PublishBatcher(brokerClient(c.pool))));
    return b.publish(req, timeoutMs);
  }

  /**
   * Publishes one event for the app `appId` (the CloudEvent's `source`). Resolves once the broker has
   * accepted the message. Topic scopes are the caller's to check (`api/universal`).
   */
  async publish(appId: string, req: PublishRequest): Promise<void> {
    const c = this.component(req.pubsub);
    if (req.topic === '') throw new MortarError('ERR_TOPIC_NAME_EMPTY', [req.pubsub]);
    const metadata = publishMetadata(req.metadata);
    const env = envelope({
      pubsub: req.pubsub,
      topic: req.topic,
      appId,
      body: req.body,
      contentType: req.contentType,
      metadata,
      traceparent: req.traceparent,
      tracestate: req.tracestate,
      brokerHasTtl: c.features.includes('MESSAGE_TTL'),
    });
    try {
      await this.#send(c, { topic: req.topic, data: env.data, contentType: env.contentType, metadata: Object.entries(metadata) });
    } catch (err) {
      throw publishError(err, req.topic, req.pubsub);
    }
    this.#kick(c.name);
  }

  /** Wakes the delivery loops of component `name` (a message was just published through it). */
  #kick(name: string): void {
    this.#loops.get(name)?.kick();
    for (const s of this.#streams) if (s.sub.pubsubname === name) s.loop?.kick();
  }

  /**
   * Bulk publish for the app `appId` (each CloudEvent's `source`). Resolves with the entries that failed
   * (empty: all published). Throws for errors of the whole request (unknown pubsub, bad metadata). Topic
   * scopes are the caller's to check (`api/universal`).
   */
  async bulkPublish(
    appId: string,
    pubsub: string,
    topic: string,
    entries: readonly BulkPublishEntry[],
    metadata: Record<string, string>,
  ): Promise<Array<{ entryId: string; error: string }>> {
    const c = this.component(pubsub);
    if (topic === '') throw new MortarError('ERR_TOPIC_NAME_EMPTY', [pubsub]);
    const reqs = entries.map((e) => {
      const md = publishMetadata(e.metadata ? { ...metadata, ...e.metadata } : { ...metadata });
      const env = envelope({
        pubsub,
        topic,
        appId,
        body: Buffer.from(e.event.buffer, e.event.byteOffset, e.event.byteLength),
        contentType: e.contentType,
        metadata: md,
        brokerHasTtl: c.features.includes('MESSAGE_TTL'),
      });
      return { topic, data: env.data, contentType: env.contentType, metadata: Object.entries(md) };
    });
    let failures: BulkFailure[];
    const broker = brokerClient(c.pool);
    try {
      if (c.features.includes('BULK_PUBLISH')) {
        failures = await this.opts.resiliency.outbound(c, 'pubsub', (timeoutMs) => broker.bulkPublish(reqs, timeoutMs));
      } else {
        const settled = await Promise.allSettled(reqs.map((r) => this.opts.resiliency.outbound(c, 'pubsub', (timeoutMs) => broker.publish(r, timeoutMs))));
        failures = settled.flatMap((s, index) => (s.status === 'rejected' ? [{ index, error: describe(s.reason) }] : []));
      }
    } catch (err) {
      failures = reqs.map((_, index) => ({ index, error: describe(err) }));
    }
    this.#kick(c.name);
    return failures.map((f) => ({ entryId: entries[f.index]!.entryId, error: f.error }));
  }

  /** Every subscription in force, declarative first, then the app's, then the streams' (for the metadata API). */
  subscriptions(): Subscription[] {
    return [...this.#declarative, ...this.#programmatic, ...[...this.#streams].map((s) => s.sub)];
  }

  /**
   * Starts a streaming subscription for the app `appId` (daprd `StartStreamerSubscription`): its messages go
   * to `target` (the stream) through a delivery loop of its own, with the same CloudEvent handling,
   * resiliency, RETRY / DROP and dead-letter rules as an app subscription, on the component's `streams`
   * side pool. Resolves once the subscription exists at the broker. Throws `ERR_PUBSUB_NOT_FOUND` (and the
   * other lookup errors) for an unknown pub/sub, and `ERR_PUBSUB_STREAM` when the topic is not allowed for
   * the app (`subscriptionScopes`, `allowedTopics`) or the broker refuses the subscription, in daprd's words.
   * Several streams may subscribe to the same topic (as in daprd since 1.16): they share the app's consumer
   * group, so the broker shares the messages out between them (in-memory: each group queue is shared).
   */
  async subscribeStream(appId: string, req: StreamSubscribeRequest, target: AppTarget): Promise<StreamSubscription> {
    const c = this.component(req.pubsub);
    if (this.#closed) throw new MortarError('ERR_PUBSUB_STREAM', ['subscriber is closed']);
    if (this.#streams.size >= MAX_STREAM_SUBSCRIPTIONS) {
      throw new MortarError('ERR_PUBSUB_STREAM', [`at most ${MAX_STREAM_SUBSCRIPTIONS} streaming subscriptions can be open at once`], {
        grpc: GrpcCode.RESOURCE_EXHAUSTED,
      });
    }
    const refused = (why: string) => new MortarError('ERR_PUBSUB_STREAM', [`failed to create subscription for ${req.pubsub}: ${why}`]);
    if (!topicAllowed(c.hostMetadata, appId, req.topic, false)) throw refused(`subscription to topic '${req.topic}' on pubsub '${req.pubsub}' is not allowed`);
    const sub: Subscription = {
      pubsubname: req.pubsub,
      topic: req.topic,
      rules: [],
      defaultPath: '/',
      metadata: { ...req.metadata },
      deadLetterTopic: req.deadLetterTopic || undefined,
      type: 'STREAMING',
      source: 'stream',
    };
    const entry: StreamEntry = { sub, target };
    try {
      entry.loop = await this.#startStream(entry, c);
    } catch (err) {
      throw refused(`failed to subscribe to topic ${req.topic}: ${describe(err)}`);
    }
    this.#streams.add(entry);
    this.opts.logger.info({ pubsub: req.pubsub, topic: req.topic }, `streaming subscription to ${req.pubsub}/${req.topic} started`);
    let closing: Promise<void> | undefined;
    return {
      subscription: sub,
      close: (graceMs, closeTarget) => {
        closing ??= (async () => {
          this.#streams.delete(entry);
          entry.closed = true;
          const loop = entry.loop;
          entry.loop = undefined;
          if (!loop) return closeTarget();
          // Halted first: whatever fails from now on (the target closing) is nacked, not dead-lettered.
          loop.halt();
          if (graceMs > 0) await loop.drained(graceMs);
          closeTarget();
          await loop.stop(STREAM_SETTLE_MS, this.#topicsInUse(loop.component, entry));
          this.opts.logger.info({ pubsub: req.pubsub, topic: req.topic }, `streaming subscription to ${req.pubsub}/${req.topic} ended`);
        })();
        return closing;
      },
    };
  }

  /** A stream's delivery loop on `c`, started (its subscription exists at the broker). */
  async #startStream(entry: StreamEntry, c: ActiveComponent): Promise<DeliveryLoop> {
    const { sub } = entry;
    const loop = new DeliveryLoop({
      key: JSON.stringify(sub),
      component: c,
      routers: [new Router(sub)],
      group: c.resource.metadata.consumerID || this.opts.appId,
      // The streams' side instance is a consumer of its own within the group (an MQTT client id must not be
      // the app loop's, or the broker would drop one of the two connections).
      consumer: `${this.opts.consumer}-streams`,
      app: entry.target,
      logger: this.opts.logger,
      policy: () => this.opts.resiliency.component(c.name, 'pubsub', 'inbound', DEFAULT_INBOUND),
      maxInFlight: this.opts.maxInFlight ?? 64,
      appTimeoutMs: this.opts.appTimeoutMs ?? 60_000,
      deadLetter: async (topic, data, contentType) => {
        await this.#send(c, { topic, data, contentType, metadata: [] });
        this.#kick(c.name);
      },
      lane: 'streams',
      longPollMs: 0,
    });
    try {
      await loop.start();
    } catch (err) {
      await loop.stop(0).catch(() => undefined);
      throw err;
    }
    return loop;
  }

  /**
   * The topics of component `c` that another loop still serves (the app's loop, another stream): closing
   * `except`'s subscription must not close theirs at the broker (a close hands the group's unsettled
   * messages back).
   */
  #topicsInUse(c: ActiveComponent, except: StreamEntry): Set<string> {
    const topics = new Set<string>();
    for (const s of this.#streams) if (s !== except && s.loop?.component === c) topics.add(s.sub.topic);
    const app = this.#loops.get(c.name);
    if (app?.component === c) for (const t of app.topics) topics.add(t);
    return topics;
  }

  /**
   * Follows reloaded and removed components for the streams (daprd `reloadPubSubStream`): a stream whose
   * component changed is served by a new loop on the new version; one whose component is gone waits, its
   * stream open, until the component comes back.
   */
  async #reconcileStreams(): Promise<void> {
    for (const entry of this.#streams) {
      const c = this.registry.get(entry.sub.pubsubname);
      const current = c?.block === 'pubsub' ? c : undefined;
      if (entry.loop && entry.loop.component === current) continue;
      const old = entry.loop;
      entry.loop = undefined;
      if (old) await old.stop(STREAM_CLOSE_GRACE_MS, this.#topicsInUse(old.component, entry));
      if (!current || entry.closed) continue;
      try {
        const loop = await this.#startStream(entry, current);
        if (entry.closed) await loop.stop(0, this.#topicsInUse(current, entry));
        else entry.loop = loop;
      } catch (err) {
        this.opts.logger.error(
          { pubsub: entry.sub.pubsubname, topic: entry.sub.topic, err: describe(err) },
          `streaming subscription to ${entry.sub.pubsubname}/${entry.sub.topic}: resubscribing after a reload failed: ${describe(err)}`,
        );
      }
    }
  }

  /** Called with the declarative subscriptions after every resource scan (so loops also follow reloaded components). */
  setDeclarative(resources: SubscriptionResource[]): void {
    this.#declarative = resources.map(fromResource);
    this.#schedule();
  }

  /** Called with the app's `GET /dapr/subscribe` answer once the app is reachable. */
  setProgrammatic(subs: Subscription[], app: AppTarget): void {
    this.#programmatic = subs;
    this.#app = app;
    this.#schedule();
  }

  /**
   * Resolves once every subscription in force is established at its broker (its component's `subscribe`
   * calls returned: the queue is bound, the SUBACK received, the group or durable consumer exists), or once
   * `timeoutMs` has passed; resolves with the subscriptions (`pubsub/topic`) still not established then,
   * which go on being retried. A subscription to a pub/sub component that is not loaded does not count: as
   * in Dapr, it starts when the component comes. Without an app channel there is nothing to establish.
   */
  async whenEstablished(timeoutMs = SUBSCRIBE_READY_TIMEOUT_MS): Promise<string[]> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pending = [...this.#pending].flatMap(([name, topics]) => topics.map((t) => `${name}/${t}`));
      if (this.#closed || (this.#queued === 0 && pending.length === 0)) return [];
      const left = deadline - performance.now();
      if (left <= 0) return pending;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== wake);
          resolve();
        }, left);
        this.#waiters.push(wake);
      });
    }
  }

  #schedule(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#queued++;
    this.#reconciling = this.#reconciling
      .then(() => this.#reconcile())
      .catch((err: unknown) => {
        this.opts.logger.error({ err: String(err) }, 'pubsub: reconciling subscriptions failed');
      })
      .finally(() => {
        this.#queued--;
        for (const wake of this.#waiters.splice(0)) wake();
      });
  }

  async #reconcile(): Promise<void> {
    if (this.#closed) return;
    await this.#reconcileStreams();
    // Group by component; the first subscription of a (pubsub, topic) wins, as in Dapr.
    const byComponent = new Map<string, Subscription[]>();
    const seen = new Set<string>();
    for (const s of this.subscriptions()) {
      const key = `${s.pubsubname}\u0000${s.topic}`;
      if (seen.has(key)) {
        this.opts.logger.warn(
          { pubsub: s.pubsubname, topic: s.topic, source: s.source },
          `subscription to ${s.pubsubname}/${s.topic} from ${s.source} ignored: the topic already has one`,
        );
        continue;
      }
      seen.add(key);
      const list = byComponent.get(s.pubsubname) ?? [];
      list.push(s);
      byComponent.set(s.pubsubname, list);
    }
    // Stop loops whose component or subscriptions changed.
    for (const [name, loop] of this.#loops) {
      const c = this.registry.get(name);
      const want = byComponent.get(name);
      if (!c || c !== loop.component || !want || !this.#app || JSON.stringify(want) !== loop.key) {
        this.#loops.delete(name);
        // Topics the next loop of the same component serves again stay subscribed on the broker, so a
        // change to one subscription does not tear down (or, for auto-deleted queues, empty) the others.
        const kept = c === loop.component && this.#app ? new Set((want ?? []).map((s) => s.topic)) : undefined;
        await loop.stop(undefined, kept);
      }
    }
    if (!this.#app) {
      this.#pending.clear();
      return;
    }
    for (const name of this.#pending.keys()) if (!byComponent.has(name)) this.#pending.delete(name);
    for (const [name, subs] of byComponent) {
      if (this.#loops.has(name)) {
        this.#pending.delete(name);
        continue;
      }
      const c = this.registry.get(name);
      if (c?.block !== 'pubsub') {
        this.#pending.delete(name);
        this.opts.logger.warn({ pubsub: name }, `subscriptions to pubsub ${name} wait: no such pub/sub component is loaded`);
        continue;
      }
      this.#pending.set(
        name,
        subs.map((s) => s.topic),
      );
      // Each subscription's rules are compiled once, here; one that does not compile is refused alone.
      const routers: Router[] = [];
      for (const s of subs) {
        if (!topicAllowed(c.hostMetadata, this.opts.appId, s.topic, false)) {
          this.opts.logger.warn({ pubsub: name, topic: s.topic }, `subscription to ${name}/${s.topic} refused: topic not allowed for app ${this.opts.appId}`);
          continue;
        }
        try {
          routers.push(new Router(s));
        } catch (err) {
          this.opts.logger.error(
            { pubsub: name, topic: s.topic, source: s.source, reason: (err as Error).message },
            `subscription to ${name}/${s.topic} from ${s.source} refused: ${(err as Error).message}`,
          );
        }
      }
      const usable = routers.map((r) => r.sub);
      if (usable.length === 0) {
        this.#pending.delete(name);
        continue;
      }
      this.#pending.set(
        name,
        usable.map((s) => s.topic),
      );
      const loop = new DeliveryLoop({
        key: JSON.stringify(subs),
        component: c,
        routers,
        group: c.resource.metadata.consumerID || this.opts.appId,
        consumer: this.opts.consumer,
        app: this.#app,
        logger: this.opts.logger,
        policy: () => this.opts.resiliency.component(name, 'pubsub', 'inbound', DEFAULT_INBOUND),
        maxInFlight: this.opts.maxInFlight ?? 64,
        appTimeoutMs: this.opts.appTimeoutMs ?? 60_000,
        deadLetter: async (topic, data, contentType) => {
          await this.#send(c, { topic, data, contentType, metadata: [] });
          this.#loops.get(name)?.kick();
        },
      });
      try {
        await loop.start();
        this.#loops.set(name, loop);
        this.#pending.delete(name);
        this.opts.logger.info({ pubsub: name, topics: usable.map((s) => s.topic) }, `subscribed to ${name}: ${usable.map((s) => s.topic).join(', ')}`);
      } catch (err) {
        await loop.stop(0).catch(() => undefined);
        // The broker may be down or restarting: try again with backoff, and at once on any change.
        const delay = Math.min(RETRY_SUBSCRIBE_MAX_MS, RETRY_SUBSCRIBE_MS * 2 ** Math.min(this.#subscribeFailures++, 5));
        this.opts.logger.error({ pubsub: name, err: describe(err) }, `subscribing to ${name} failed: ${describe(err)}; retrying in ${delay}ms`);
        if (!this.#retryTimer && !this.#closed) {
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#schedule();
          }, delay);
          this.#retryTimer.unref();
        }
        continue;
      }
      this.#subscribeFailures = 0;
    }
  }

  /** Stops every delivery loop (in-flight deliveries finish first). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const wake of this.#waiters.splice(0)) wake();
    await this.#reconciling;
    // Streams still open (the gRPC server ends its streams before this): their unanswered messages go back.
    const streams = [...this.#streams];
    this.#streams.clear();
    await Promise.all([...streams.map((s) => s.loop?.stop(0)), ...[...this.#loops.values()].map((l) => l.stop())]);
    this.#loops.clear();
  }
}

/** A streaming subscription: what it is, where its messages go, and its loop while one runs. */
interface StreamEntry {
  readonly sub: Subscription;
  readonly target: AppTarget;
  loop?: DeliveryLoop;
  closed?: boolean;
}

function describe(err: unknown): string {
  if (err instanceof ComponentCallError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
