/**
 * Receiving pub/sub events as a Dapr app does: the sidecar asks `GET /dapr/subscribe` for the subscriptions and
 * delivers each event as `POST <route>` with a CloudEvent body; the answer's `status` settles it (`SUCCESS`,
 * `RETRY`: delivered again later, `DROP`: discarded or dead-lettered). A workload receives them through its
 * incoming handler, exactly as an HTTP app receives them over HTTP.
 */
import type { Request, Router } from './router.js';

/** A programmatic subscription, as `GET /dapr/subscribe` lists it. */
export interface Subscription {
  /** The pub/sub component. */
  pubsubName: string;
  topic: string;
  /** Where the sidecar delivers (`/orders`). */
  route: string;
  /** Subscription metadata (`rawPayload`, broker keys). */
  metadata?: Record<string, string>;
  /** Where dropped events go. */
  deadLetterTopic?: string;
}

/** A delivered event: the CloudEvent's fields, its data decoded. */
export interface TopicEvent<T = unknown> {
  id: string;
  source: string;
  type: string;
  topic: string;
  pubsubName: string;
  /** The event's data: JSON parsed, text as a string. */
  data: T;
  /** The whole CloudEvent as delivered. */
  cloudEvent: Record<string, unknown>;
  /** The delivery request (headers such as `pubsubname`, `traceparent`). */
  request: Request;
}

/** How a delivery is settled. `undefined` (a handler that returns nothing) is `SUCCESS`. */
export type Settlement = 'SUCCESS' | 'RETRY' | 'DROP';

/** Handles one event; throwing is `RETRY`. */
export type EventHandler<T = unknown> = (event: TopicEvent<T>) => Settlement | undefined;

/**
 * Declares subscriptions on `router`: answers `GET /dapr/subscribe` with them, and routes each `POST <route>`
 * delivery to its handler, answering the settlement as Dapr expects (`{"status": "SUCCESS"|"RETRY"|"DROP"}`).
 */
export class Subscriptions {
  readonly #list: Subscription[] = [];

  constructor(readonly router: Router) {
    router.get('/dapr/subscribe', () => ({
      body: this.#list.map((s) => ({
        pubsubname: s.pubsubName,
        topic: s.topic,
        route: s.route,
        ...(s.metadata ? { metadata: s.metadata } : {}),
        ...(s.deadLetterTopic ? { deadLetterTopic: s.deadLetterTopic } : {}),
      })),
    }));
  }

  /** Subscribes `handler` to `sub.topic` on `sub.pubsubName`, delivered to `sub.route`. */
  add<T = unknown>(sub: Subscription, handler: EventHandler<T>): this {
    this.#list.push(sub);
    this.router.post(sub.route, (request) => {
      let ce: Record<string, unknown>;
      try {
        ce = request.json<Record<string, unknown>>();
      } catch {
        // Not a CloudEvent (a raw-payload subscription): the bytes are the data.
        ce = { data: request.text() };
      }
      const event: TopicEvent<T> = {
        id: String(ce.id ?? ''),
        source: String(ce.source ?? ''),
        type: String(ce.type ?? ''),
        topic: String(ce.topic ?? sub.topic),
        pubsubName: String(ce.pubsubname ?? sub.pubsubName),
        data: ce.data as T,
        cloudEvent: ce,
        request,
      };
      let status: Settlement;
      try {
        status = handler(event) ?? 'SUCCESS';
      } catch (e) {
        return { status: 200, body: { status: 'RETRY', message: e instanceof Error ? e.message : String(e) } };
      }
      return { status: 200, body: { status } };
    });
    return this;
  }
}
