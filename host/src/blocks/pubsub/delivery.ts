/**
 * The delivery loop of one pub/sub component: fetch from the broker (through the component's own side
 * instance), hand each message to the app over HTTP exactly as Dapr does (spec 1.14), and settle it.
 *
 * At-least-once: a message is acked only after the app took it (SUCCESS, DROP, 404, or after it went to
 * the dead-letter topic). Failures are retried in place as the component's inbound resiliency policy says
 * (retry back-off and status matching, per-attempt timeout, circuit breaker); a message still failing is
 * nacked, and the broker hands it out again later. While the inbound circuit breaker is open, and while
 * the app's health checks find it unhealthy (`AppTarget.paused`), the loop fetches nothing. Backpressure:
 * at most `maxInFlight` messages are with the app at once; the loop fetches only what it can take.
 */
import { Alarm } from '../../alarm.js';
import { goFields } from '../../request-json.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../logger.js';
import type { ActiveComponent, SideLane } from '../../components/registry.js';
import { brokerClient, type BrokerClient, type Delivery, type SettleRef, type Subscription as WitSubscription } from './broker-client.js';
import type { AppTarget } from '../app-target.js';
import { CLOUDEVENT_CONTENT_TYPE, expired, inbound, parseBool, type InboundEvent } from './cloudevents.js';
import type { Router, Subscription } from './subscription.js';
import { retriesStatus } from '../resiliency/backoff.js';
import { sleep, type Policy } from '../resiliency/policy.js';

/** A message fetched from the broker (the WIT `delivery`). */
export type WitDelivery = Delivery;

export interface DeliveryOptions {
  /** Identifies the subscriptions asked for (before scope and rule checks): a change means a new loop. */
  readonly key: string;
  readonly component: ActiveComponent;
  /** The subscriptions served, each with its compiled routing rules. */
  readonly routers: readonly Router[];
  readonly group: string;
  /** This sidecar within the group. */
  readonly consumer: string;
  readonly app: AppTarget;
  readonly logger: Logger;
  /** The inbound resiliency policy in force, read for every message (so a reloaded policy applies at once). */
  readonly policy: () => Policy;
  readonly maxInFlight: number;
  /** How long the app may take to answer one delivery when the policy sets no timeout. */
  readonly appTimeoutMs: number;
  /** Publishes the original message to a dead-letter topic of the same component. */
  readonly deadLetter: (topic: string, data: Uint8Array, contentType: string | undefined) => Promise<void>;
  /**
   * The component's side pool the loop fetches through (`ActiveComponent.sidePool`): `app` (default) or
   * `streams`, which several loops share and so must not long-poll (`longPollMs` 0).
   */
  readonly lane?: SideLane;
  /** Longest a fetch waits in the broker for a first message (default `LONG_POLL_MS`); 0: the loop polls. */
  readonly longPollMs?: number;
}

type Outcome = 'success' | 'retry' | 'drop';
/** An app's answer to one delivery; `status` is set when the app answered with a non-2xx status. */
interface Answer {
  readonly outcome: Outcome;
  readonly status?: number;
}

/** Longest a fetch may block in the broker waiting for the first message. */
const LONG_POLL_MS = 1000;
/** A broker that cannot block is polled this often while idle (local publishes wake it at once). */
const IDLE_POLL_MS = 100;
/** How often a loop paused for an unhealthy app checks whether it may fetch again. */
const PAUSED_POLL_MS = 100;
/** Delay before a nacked message comes back, where the broker can honour one. */
const NACK_DELAY_MS = 1000;

export class DeliveryLoop {
  readonly #o: DeliveryOptions;
  readonly #subs = new Map<string, { sub: Subscription; router: Router; raw: boolean; bulk?: BulkBuffer }>();
  readonly #wit: WitSubscription[] = [];
  #broker?: BrokerClient;
  #stopped = false;
  #inflight = 0;
  #acks: SettleRef[] = [];
  #nacks: SettleRef[] = [];
  readonly #alarm = new Alarm();
  #done?: Promise<void>;

  constructor(opts: DeliveryOptions) {
    this.#o = opts;
    for (const router of opts.routers) {
      const { sub } = router;
      const raw = parseBool(sub.metadata.rawPayload ?? '') === true;
      const entry = { sub, router, raw, bulk: sub.bulk?.enabled ? new BulkBuffer(sub, raw, this) : undefined };
      this.#subs.set(sub.topic, entry);
      this.#wit.push({ topic: sub.topic, group: opts.group, consumer: opts.consumer, metadata: Object.entries(sub.metadata) });
    }
  }

  get component(): ActiveComponent {
    return this.#o.component;
  }
  get key(): string {
    return this.#o.key;
  }
  /** The topics it serves. */
  get topics(): string[] {
    return [...this.#subs.keys()];
  }

  /** Stops fetching at once (what fails from now on goes back to the broker); `stop` finishes the stop. */
  halt(): void {
    this.#stopped = true;
    this.kick();
  }

  /** Resolves once no delivery is in flight, or after `ms`. */
  async drained(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.#inflight > 0 && Date.now() < deadline) await sleep(10);
  }

  /** Prepares every subscription on the broker, then runs until `stop`. Rejects if preparing fails. */
  async start(): Promise<void> {
    this.#broker = brokerClient(await this.#o.component.sidePool(this.#o.lane));
    for (const s of this.#wit) await this.#broker.subscribe(s);
    this.#done = this.#run();
  }

  /** Wakes an idle loop (a message was just published through this component). */
  kick(): void {
    this.#alarm.wake();
  }

  /**
   * Stops fetching, waits (up to `graceMs`) for deliveries in flight, settles them and closes the
   * subscriptions, except those on `kept` topics (a replacing loop serves them again).
   */
  async stop(graceMs = 5000, kept?: ReadonlySet<string>): Promise<void> {
    this.#stopped = true;
    this.kick();
    await this.#done;
    const deadline = Date.now() + graceMs;
    while (this.#inflight > 0 && Date.now() < deadline) await sleep(10);
    for (const s of this.#subs.values()) s.bulk?.flushNow();
    while (this.#inflight > 0 && Date.now() < deadline) await sleep(10);
    await this.#settle().catch(() => undefined);
    if (this.#broker) for (const s of this.#wit) if (!kept?.has(s.topic)) await this.#broker.close(s).catch(() => undefined);
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        await this.#settle();
        const open = this.#o.policy().breaker?.openForMs() ?? 0;
        if (open > 0) {
          await this.#idle(Math.min(open, LONG_POLL_MS));
          continue;
        }
        if (this.#o.app.paused()) {
          await this.#idle(PAUSED_POLL_MS);
          continue;
        }
        const room = this.#o.maxInFlight - this.#inflight;
        if (room <= 0) {
          await this.#idle(50);
          continue;
        }
        const wait = this.#inflight > 0 ? 0 : (this.#o.longPollMs ?? LONG_POLL_MS);
        const t0 = performance.now();
        // The long poll is part of the call: its deadline comes on top of it.
        const got = await this.#broker!.fetch(this.#wit, Math.min(room, 256), wait, wait + this.#broker!.callTimeout());
        failures = 0;
        const paused = this.#o.app.paused();
        if (this.#stopped || paused) {
          // Unsubscribed, or the app found unhealthy, while the fetch waited: give these back rather than deliver them.
          if (got.length > 0)
            await this.#broker!.nack(
              got.map((m) => ({ topic: m.topic, group: m.group, receipt: m.receipt })),
              0,
            ).catch(() => undefined);
          if (paused && !this.#stopped) continue;
          break;
        }
        for (const m of got) this.#dispatch(m);
        if (got.length === 0) {
          if (this.#inflight > 0) await this.#idle(10);
          else if (wait === 0 || performance.now() - t0 < wait / 2) await this.#idle(IDLE_POLL_MS);
        }
      } catch (err) {
        if (this.#stopped) break;
        failures++;
        const delay = Math.min(5000, 100 * 2 ** Math.min(failures, 6));
        this.#o.logger.warn(
          { component: this.#o.component.name, err: String((err as Error)?.message ?? err) },
          `pubsub ${this.#o.component.name}: fetch failed; retrying in ${delay}ms`,
        );
        await this.#idle(delay);
      }
    }
  }

  #idle(ms: number): Promise<void> {
    return this.#alarm.sleep(ms);
  }

  async #settle(): Promise<void> {
    if (this.#acks.length > 0) {
      const acks = this.#acks;
      this.#acks = [];
      try {
        await this.#broker!.ack(acks);
      } catch (err) {
        // Not acked: the broker will hand these out again (at-least-once).
        this.#o.logger.warn(
          { component: this.#o.component.name, count: acks.length, err: String(err) },
          `pubsub ${this.#o.component.name}: ack failed; the broker will redeliver`,
        );
      }
    }
    if (this.#nacks.length > 0) {
      const nacks = this.#nacks;
      this.#nacks = [];
      await this.#broker!.nack(nacks, NACK_DELAY_MS).catch(() => undefined);
    }
  }

  /** Records a settlement; it goes to the broker on the loop's next turn. */
  settle(m: WitDelivery, ack: boolean): void {
    (ack ? this.#acks : this.#nacks).push({ topic: m.topic, group: m.group, receipt: m.receipt });
    this.#inflight--;
    this.kick();
  }

  #dispatch(m: WitDelivery): void {
    this.#inflight++;
    const entry = this.#subs.get(m.topic);
    if (!entry) {
      this.settle(m, false);
      return;
    }
    if (entry.bulk) {
      entry.bulk.add(m);
      return;
    }
    void this.#deliverOne(entry, m).then(
      (ack) => this.settle(m, ack),
      (err: unknown) => {
        this.#o.logger.error({ component: this.#o.component.name, topic: m.topic, err: String(err) }, 'pubsub delivery failed unexpectedly');
        this.settle(m, false);
      },
    );
  }

  /** Delivers one message with retries; resolves true to ack, false to nack. */
  /**
   * Reads a message as the CloudEvent the app gets. A message that is not one, or has expired, is not
   * delivered: the answer is then how to settle it (true: ack, false: nack), dead letter included.
   */
  async #prepare(sub: Subscription, m: WitDelivery, md: Record<string, string>, raw: boolean): Promise<InboundEvent | boolean> {
    let ev: InboundEvent;
    try {
      ev = inbound(m.data, m.contentType ?? undefined, raw, m.topic, sub.pubsubname, md);
    } catch (err) {
      this.#o.logger.warn({ topic: m.topic, err: (err as Error).message }, `pubsub ${sub.pubsubname}/${m.topic}: message is not a CloudEvent`);
      return this.#finalFailure(sub, m);
    }
    if (expired(ev.event)) {
      this.#o.logger.debug({ topic: m.topic, id: ev.event.id }, 'dropping expired event');
      return this.#toDeadLetterOrAck(sub, m);
    }
    return ev;
  }

  async #deliverOne(entry: { sub: Subscription; router: Router; raw: boolean }, m: WitDelivery): Promise<boolean> {
    const { sub } = entry;
    const md = Object.fromEntries(m.metadata);
    const ev = await this.#prepare(sub, m, md, entry.raw);
    if (typeof ev === 'boolean') return ev;
    const path = entry.router.route(ev.event);
    if (path === undefined) return true; // no route matches: Dapr drops it as a success
    const headers: Record<string, string> = { ...md, 'content-type': CLOUDEVENT_CONTENT_TYPE, pubsubname: sub.pubsubname };
    if (typeof ev.event.traceparent === 'string') headers.traceparent = ev.event.traceparent;
    if (typeof ev.event.tracestate === 'string' && ev.event.tracestate !== '') headers.tracestate = ev.event.tracestate;
    const policy = this.#o.policy();
    const backoff = policy.backoff();
    for (;;) {
      // An open breaker: the app is not tried; the broker hands the message out again later.
      if (policy.breaker && !policy.breaker.allow()) return false;
      const answer = await this.#post(path, ev.json, headers, policy, m.topic);
      policy.breaker?.record(answer.outcome !== 'retry');
      if (answer.outcome === 'success') return true;
      if (answer.outcome === 'drop') return this.#toDeadLetterOrAck(sub, m);
      const wait = this.#nextRetry(policy, backoff, answer);
      // A loop being stopped gives a failing message back to the broker, never to the dead letter.
      if (wait === undefined) return this.#stopped ? false : this.#finalFailure(sub, m);
      await sleep(wait);
      if (this.#stopped) return false;
    }
  }

  /** The wait before retrying after `answer`, or undefined when the policy retries no more. */
  #nextRetry(policy: Policy, backoff: ReturnType<Policy['backoff']>, answer: Answer): number | undefined {
    if (this.#stopped) return undefined;
    if (answer.status !== undefined && policy.retry && !retriesStatus(policy.retry, answer.status)) return undefined;
    return backoff?.next();
  }

  async #post(path: string, body: Buffer, headers: Record<string, string>, policy: Policy, topic: string): Promise<Answer> {
    let res;
    try {
      res = await this.#o.app.request('POST', path, body, headers, policy.timeoutMs ?? this.#o.appTimeoutMs, { topic });
    } catch (err) {
      this.#o.logger.debug({ path, err: (err as Error).message }, 'delivery to the app failed');
      return { outcome: 'retry' };
    }
    const outcome = outcomeOf(res.status, res.body);
    return res.status >= 200 && res.status <= 299 ? { outcome } : { outcome, status: res.status };
  }

  async #toDeadLetterOrAck(sub: Subscription, m: WitDelivery): Promise<boolean> {
    if (!sub.deadLetterTopic) return true;
    try {
      await this.#o.deadLetter(sub.deadLetterTopic, m.data, m.contentType ?? undefined);
      return true;
    } catch (err) {
      this.#o.logger.warn(
        { topic: sub.deadLetterTopic, err: String(err) },
        `pubsub ${sub.pubsubname}: dead-letter publish failed; the message will be redelivered`,
      );
      return false;
    }
  }

  /** Retries are exhausted: dead letter if configured, else leave the message to the broker's redelivery. */
  #finalFailure(sub: Subscription, m: WitDelivery): Promise<boolean> {
    if (sub.deadLetterTopic) return this.#toDeadLetterOrAck(sub, m);
    return Promise.resolve(false);
  }

  /** Delivers a batch to a bulk subscription (spec: bulk subscribe); settles every message itself. */
  async deliverBulk(sub: Subscription, raw: boolean, batch: WitDelivery[]): Promise<void> {
    let pending = batch.map((m) => ({ m, entryId: randomUUID() }));
    const path = sub.defaultPath ?? sub.rules[0]?.path ?? '/';
    const policy = this.#o.policy();
    const backoff = policy.backoff();
    while (pending.length > 0) {
      const entries: Array<Record<string, unknown>> = [];
      const ok: typeof pending = [];
      for (const p of pending) {
        const md = Object.fromEntries(p.m.metadata);
        if (raw) {
          entries.push({
            entryId: p.entryId,
            event: Buffer.from(p.m.data).toString('base64'),
            metadata: md,
            contentType: p.m.contentType ?? 'application/octet-stream',
          });
          ok.push(p);
          continue;
        }
        const ev = await this.#prepare(sub, p.m, md, false);
        if (typeof ev === 'boolean') {
          this.settle(p.m, ev);
          continue;
        }
        entries.push({ entryId: p.entryId, event: ev.event, metadata: md, contentType: CLOUDEVENT_CONTENT_TYPE });
        ok.push(p);
      }
      pending = ok;
      if (pending.length === 0) return;
      if (policy.breaker && !policy.breaker.allow()) {
        for (const p of pending) this.settle(p.m, false);
        return;
      }
      const body = Buffer.from(
        JSON.stringify({ id: randomUUID(), type: 'com.dapr.event.sent.bulk', topic: sub.topic, pubsubname: sub.pubsubname, metadata: sub.metadata, entries }),
      );
      let statuses = new Map<string, string>();
      let whole: Outcome | undefined;
      let status: number | undefined;
      try {
        const res = await this.#o.app.request(
          'POST',
          path,
          body,
          { 'content-type': 'application/json', pubsubname: sub.pubsubname },
          policy.timeoutMs ?? this.#o.appTimeoutMs,
        );
        if (res.status === 404) whole = 'drop';
        else if (res.status < 200 || res.status > 299) {
          whole = 'retry';
          status = res.status;
        } else {
          try {
            // daprd's AppBulkResponse, field names matched case-insensitively as Go decodes them.
            const parsed = goFields(JSON.parse(res.body.toString('utf8')) as object, BULK_RESPONSE_FIELDS);
            const list = Array.isArray(parsed.statuses) ? (parsed.statuses as unknown[]) : [];
            statuses = new Map(
              list.map((raw) => {
                const s = raw !== null && typeof raw === 'object' ? goFields(raw, BULK_STATUS_FIELDS) : {};
                return [String(s.entryId), String(s.status ?? '').toUpperCase()];
              }),
            );
          } catch {
            /* no statuses: every entry counts as RETRY */
          }
        }
      } catch {
        whole = 'retry';
      }
      policy.breaker?.record(whole !== 'retry');
      const retry: typeof pending = [];
      for (const p of pending) {
        const s = whole === 'drop' ? 'DROP' : whole === 'retry' ? 'RETRY' : (statuses.get(p.entryId) ?? 'RETRY');
        if (s === 'SUCCESS') this.settle(p.m, true);
        else if (s === 'DROP') this.settle(p.m, await this.#toDeadLetterOrAck(sub, p.m));
        else retry.push(p);
      }
      if (retry.length === 0) return;
      const wait = this.#nextRetry(policy, backoff, { outcome: 'retry', status });
      if (wait === undefined) {
        for (const p of retry) this.settle(p.m, this.#stopped ? false : await this.#finalFailure(sub, p.m));
        return;
      }
      pending = retry;
      await sleep(wait);
    }
  }
}

/** daprd's AppResponse / AppBulkResponse field names (matched case-insensitively, as Go decodes them). */
const RESPONSE_FIELDS = ['status'] as const;
const BULK_RESPONSE_FIELDS = ['statuses'] as const;
const BULK_STATUS_FIELDS = ['entryId', 'status'] as const;

/** Dapr's reading of an app's answer to a delivery (spec 1.14 table). */
export function outcomeOf(status: number, body: Buffer): Outcome {
  if (status === 404) return 'drop';
  if (status < 200 || status > 299) return 'retry';
  const text = body.toString('utf8').trim();
  if (text === '') return 'success';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'success';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'success';
  const s = goFields(parsed, RESPONSE_FIELDS).status;
  if (s === undefined || s === null || s === '') return 'success';
  switch (String(s).toUpperCase()) {
    case 'SUCCESS':
      return 'success';
    case 'DROP':
      return 'drop';
    default:
      return 'retry'; // RETRY, or a status Dapr does not know
  }
}

/** Collects messages for a bulk subscription until `maxMessagesCount` or `maxAwaitDurationMs`. */
class BulkBuffer {
  #items: WitDelivery[] = [];
  #timer?: NodeJS.Timeout;

  constructor(
    readonly sub: Subscription,
    readonly raw: boolean,
    readonly loop: DeliveryLoop,
  ) {}

  add(m: WitDelivery): void {
    this.#items.push(m);
    if (this.#items.length >= this.sub.bulk!.maxMessagesCount) this.flushNow();
    else this.#timer ??= setTimeout(() => this.flushNow(), this.sub.bulk!.maxAwaitDurationMs);
  }

  flushNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#items.length === 0) return;
    const batch = this.#items;
    this.#items = [];
    void this.loop.deliverBulk(this.sub, this.raw, batch).catch(() => {
      for (const m of batch) this.loop.settle(m, false);
    });
  }
}
