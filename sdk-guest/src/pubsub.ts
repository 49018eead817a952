/** Publishing events (`mortar:app/pubsub`). Receiving them is HTTP: see `subscriptions.ts`. */
import * as wit from 'mortar:app/pubsub@0.1.0';
import { type Body, pairs, toBytes } from './bytes.js';
import { call } from './errors.js';

/** Options of a publish. */
export interface PublishOptions {
  /** The data's content type (default: `application/json` for objects, `text/plain` for text and bytes). */
  contentType?: string;
  /** Send the bytes as they are, without a CloudEvent envelope. */
  rawPayload?: boolean;
  /** Request metadata (`ttlInSeconds`, `cloudevent.*` overrides, broker keys). */
  metadata?: Record<string, string>;
}

function message(data: Body, o: PublishOptions): wit.Message {
  const { bytes, json } = toBytes(data);
  return { data: bytes, contentType: o.contentType ?? (json ? 'application/json' : undefined), rawPayload: o.rawPayload ?? false, metadata: pairs(o.metadata) };
}

/** A pub/sub component, by name (`pubsub` is the default one). */
export class PubSub {
  constructor(readonly name = 'pubsub') {}

  /** Publishes `data` to `topic`; returns once the broker has accepted it. */
  publish(topic: string, data: Body, options: PublishOptions = {}): void {
    call(() => wit.publish(this.name, topic, message(data, options)));
  }

  /** Publishes several events to `topic`; returns the ids of those that failed, with why. */
  publishMany(topic: string, entries: Array<{ id: string; data: Body } & PublishOptions>, metadata?: Record<string, string>): wit.BulkFailure[] {
    return call(() =>
      wit.publishBulk(
        this.name,
        topic,
        entries.map((e) => ({ entryId: e.id, message: message(e.data, e) })),
        pairs(metadata),
      ),
    );
  }
}

/** The pub/sub component named `name` (default `pubsub`). */
export function pubsub(name?: string): PubSub {
  return new PubSub(name);
}
