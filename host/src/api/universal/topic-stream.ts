/**
 * Streaming subscriptions (gRPC `SubscribeTopicEventsAlpha1`) in the universal API's terms: what a transport
 * hands in (a `TopicEventSink`: deliver one event, answer its status) and the `AppTarget` the pub/sub
 * block's delivery loop calls, which turns the loop's HTTP-shaped delivery (`POST /` with the CloudEvent)
 * into one `deliver` call and the status back into the answer an HTTP app would give. So a stream gets the
 * same CloudEvent handling, retries, DROP and dead-letter rules as an app subscription, and the transport
 * only translates messages.
 */
import type { AppAnswer, AppTarget } from '../../blocks/app-target.js';

/** The client's answer to one event (`TopicEventResponse.status`). */
export type TopicEventStatus = 'SUCCESS' | 'RETRY' | 'DROP';

/** One event for the stream's client, as the delivery loop made it. */
export interface StreamedEvent {
  /** The CloudEvent, parsed. */
  readonly event: Record<string, unknown>;
  /** The topic the message came from. */
  readonly topic: string;
  readonly pubsub: string;
  /** The route (always `/` for a stream, as daprd). */
  readonly path: string;
  /** The message's metadata (broker metadata and `pubsubname`). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Where a streaming subscription's events go: the transport's stream. */
export interface TopicEventSink {
  /**
   * Sends `event` to the client and resolves with its answer; rejects when no answer came within
   * `timeoutMs` or the stream ended (the message is then retried, or given back to the broker).
   */
  deliver(event: StreamedEvent, timeoutMs: number): Promise<TopicEventStatus>;
}

/** `SubscribeTopicEventsRequestInitialAlpha1`. */
export interface SubscribeTopicEventsRequest {
  readonly pubsub: string;
  readonly topic: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** Empty or missing: none. */
  readonly deadLetterTopic?: string;
}

/** A streaming subscription in force. */
export interface TopicEventStream {
  /**
   * Ends it. `graceMs` (0 when the stream broke): how long the events in flight may still be answered; then
   * `closeSink` is called, which must reject every `deliver` still unanswered. Unanswered messages go back
   * to the broker; answered ones are settled. Resolves when all that is done.
   */
  close(graceMs: number, closeSink: () => void): Promise<void>;
}

const EMPTY = Buffer.alloc(0);
const ANSWERS: Readonly<Record<TopicEventStatus, AppAnswer>> = {
  SUCCESS: { status: 200, body: EMPTY },
  RETRY: { status: 200, body: Buffer.from('{"status":"RETRY"}') },
  DROP: { status: 200, body: Buffer.from('{"status":"DROP"}') },
};

/** `sink` as the delivery loop's target. */
export function sinkTarget(sink: TopicEventSink): AppTarget {
  return {
    paused: () => false,
    async request(_method, path, body, headers, timeoutMs, delivery) {
      const event = JSON.parse((body ?? EMPTY).toString('utf8')) as Record<string, unknown>;
      const { 'content-type': _ct, ...metadata } = headers;
      const status = await sink.deliver(
        { event, topic: delivery?.topic ?? String(event.topic ?? ''), pubsub: headers.pubsubname ?? '', path, metadata },
        timeoutMs,
      );
      return ANSWERS[status];
    },
  };
}
