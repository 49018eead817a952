/**
 * `SubscribeTopicEventsAlpha1` (daprd `pkg/api/grpc/subscribe.go`, `pkg/runtime/pubsub/streamer`): the
 * bidirectional streaming subscription, translation only. The first message must be the initial request
 * (pub/sub, topic, metadata, dead-letter topic); the universal API subscribes (`subscribeTopicEvents`) and
 * the stream answers with the initial response. From then on each event goes out as a `TopicEventRequest`
 * (the same envelope as the gRPC app channel's `OnTopicEvent`) and waits for the client's
 * `event_processed` answer with its id (SUCCESS, RETRY, DROP; any other status retries); the delivery loop
 * behind the universal API does the rest (retries, dead letter, settling at the broker).
 *
 * The stream ends when the client half-closes, cancels or goes away, when it sends a second initial request
 * (`duplicate initial request received`), and when the server stops (`stream closed`, after the events in
 * flight have had `STOP_GRACE_MS` to be answered). Whatever was not answered then goes back to the broker.
 * Streams are not counted among the calls a graceful stop waits for: the server ends them itself
 * (`OpenStreams.closeAll`), so a stop never waits out its grace period on a stream a client keeps open.
 */
import type { ServerDuplexStream, StatusObject } from '@grpc/grpc-js';
import { MortarError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { topicEventRequest } from '../../app-channel/topic-event-request.js';
import type { Caller } from '../universal/caller.js';
import type { StreamedEvent, TopicEventSink, TopicEventStatus, TopicEventStream } from '../universal/topic-stream.js';
import type { UniversalApi } from '../universal/universal-api.js';
import type { ServerCodec } from './protos.js';

/** The longest a stopping server lets a stream's events in flight be answered before it ends the stream. */
export const STOP_GRACE_MS = 5000;

/** `TopicEventResponse.TopicEventResponseStatus`, by number. */
const STATUS: Readonly<Record<number, TopicEventStatus>> = { 0: 'SUCCESS', 1: 'RETRY', 2: 'DROP' };

/** The streams being served, so that the server's stop can end them. */
export class OpenStreams {
  readonly #open = new Set<TopicEventsCall>();
  #closing?: number;

  add(s: TopicEventsCall): void {
    if (this.#closing !== undefined) void s.stop(0);
    else this.#open.add(s);
  }
  delete(s: TopicEventsCall): void {
    this.#open.delete(s);
  }
  /** Ends every stream: their events in flight get up to `graceMs` to be answered. */
  async closeAll(graceMs: number): Promise<void> {
    this.#closing = graceMs;
    await Promise.all([...this.#open].map((s) => s.stop(Math.min(graceMs, STOP_GRACE_MS))));
  }
}

export interface TopicEventsContext {
  readonly api: UniversalApi;
  readonly caller: Caller;
  readonly logger: Logger;
  readonly codec: ServerCodec;
  readonly streams: OpenStreams;
  /** A thrown error as the status the stream ends with (logged as the unary calls' errors are). */
  readonly fail: (err: unknown) => StatusObject;
}

/** A waiting delivery: its promise's settlers and its deadline. */
interface Waiting {
  resolve(s: TopicEventStatus): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** One `SubscribeTopicEventsAlpha1` call; see the module comment. */
export class TopicEventsCall implements TopicEventSink {
  readonly #call: ServerDuplexStream<Buffer, Buffer>;
  readonly #ctx: TopicEventsContext;
  #state: 'initial' | 'subscribing' | 'open' | 'ended' = 'initial';
  #stream?: TopicEventStream;
  #closing?: Promise<void>;
  /** Deliveries waiting for the client's answer, by event id (in order, should an id be in flight twice). */
  readonly #waiting = new Map<string, Waiting[]>();
  #sinkClosed = false;

  constructor(call: ServerDuplexStream<Buffer, Buffer>, ctx: TopicEventsContext) {
    this.#call = call;
    this.#ctx = ctx;
    call.on('data', (bytes: Buffer) => this.#onMessage(bytes));
    // The client half-closed, cancelled or went away: nothing more can be answered.
    call.on('end', () => void this.#end());
    call.on('cancelled', () => void this.#end());
    call.on('error', () => void this.#end());
    call.on('close', () => void this.#end());
  }

  /** Sends one event and waits for its answer (the universal API's sink). */
  deliver(ev: StreamedEvent, timeoutMs: number): Promise<TopicEventStatus> {
    if (this.#sinkClosed) return Promise.reject(new Error('stream closed'));
    const message = topicEventRequest(ev.event, ev.topic, ev.pubsub, ev.path);
    const id = message.id as string;
    return new Promise<TopicEventStatus>((resolve, reject) => {
      const list = this.#waiting.get(id) ?? [];
      const w: Waiting = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#forget(id, w);
          reject(new Error(`no answer to event ${id} within ${timeoutMs}ms`));
        }, timeoutMs),
      };
      list.push(w);
      this.#waiting.set(id, list);
      this.#call.write(this.#ctx.codec.encode({ eventMessage: message }));
    });
  }

  /** Ends the stream from the server's side (a stop): `stream closed`, after up to `graceMs` for answers. */
  async stop(graceMs: number): Promise<void> {
    await this.#close(graceMs);
    this.#finish(this.#ctx.fail(new MortarError('ERR_PUBSUB_STREAM', ['stream closed'])));
  }

  #forget(id: string, w: Waiting): void {
    const list = this.#waiting.get(id);
    if (!list) return;
    const i = list.indexOf(w);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#waiting.delete(id);
  }

  /** Rejects every delivery still waiting: the stream can answer nothing more. */
  #closeSink(): void {
    this.#sinkClosed = true;
    const all = [...this.#waiting.values()].flat();
    this.#waiting.clear();
    for (const w of all) {
      clearTimeout(w.timer);
      w.reject(new Error('stream closed'));
    }
  }

  #onMessage(bytes: Buffer): void {
    if (this.#state === 'ended') return;
    // biome-ignore lint/suspicious/noExplicitAny: the message is typed by the protos at run time
    let m: any;
    try {
      m = this.#ctx.codec.decode(bytes);
    } catch (err) {
      void this.#fail(new MortarError('ERR_MALFORMED_REQUEST', [`cannot decode the SubscribeTopicEventsAlpha1 request: ${(err as Error).message}`]));
      return;
    }
    const kind = m.subscribeTopicEventsRequestType as string | undefined;
    if (this.#state === 'initial') {
      if (kind !== 'initialRequest' || !m.initialRequest) {
        void this.#fail(new MortarError('ERR_PUBSUB_STREAM', ['initial request is required']));
        return;
      }
      this.#subscribe(m.initialRequest);
      return;
    }
    if (kind !== 'eventProcessed' || !m.eventProcessed) {
      void this.#fail(new MortarError('ERR_PUBSUB_STREAM', ['duplicate initial request received']));
      return;
    }
    const { id, status } = m.eventProcessed as { id: string; status: { status: number } | null };
    const w = this.#waiting.get(id)?.[0];
    if (!w) {
      this.#ctx.logger.debug({ id }, `SubscribeTopicEventsAlpha1: no event ${id} is waiting for an answer`);
      return;
    }
    this.#forget(id, w);
    clearTimeout(w.timer);
    // No status is SUCCESS (proto3's default); a status daprd does not know retries.
    w.resolve(STATUS[status?.status ?? 0] ?? 'RETRY');
  }

  #subscribe(r: { pubsubName: string; topic: string; metadata: Record<string, string>; deadLetterTopic?: string | null }): void {
    this.#state = 'subscribing';
    // Nothing else is read until the subscription exists (a second initial request is then refused).
    this.#call.pause();
    const { api, caller } = this.#ctx;
    api
      .subscribeTopicEvents(caller, { pubsub: r.pubsubName, topic: r.topic, metadata: r.metadata, deadLetterTopic: r.deadLetterTopic ?? undefined }, this)
      .then(
        (stream) => {
          this.#stream = stream;
          if (this.#state === 'ended') {
            // The client left while it was being set up.
            void this.#close(0).then(() => this.#finish());
            return;
          }
          this.#state = 'open';
          this.#ctx.streams.add(this);
          this.#call.write(this.#ctx.codec.encode({ initialResponse: {} }));
          this.#call.resume();
        },
        (err: unknown) => void this.#fail(err),
      );
  }

  /** Ends the subscription (once): answers get `graceMs`, the rest goes back to the broker. */
  #close(graceMs: number): Promise<void> {
    this.#closing ??= (async () => {
      this.#ctx.streams.delete(this);
      const stream = this.#stream;
      if (stream) await stream.close(graceMs, () => this.#closeSink());
      else this.#closeSink();
    })();
    return this.#closing;
  }

  /** The client is gone or done: the subscription ends, unanswered events go back to the broker. */
  async #end(): Promise<void> {
    const was = this.#state;
    this.#state = 'ended';
    if (was === 'subscribing') return; // closed once the subscription exists (see `#subscribe`)
    await this.#close(0);
    this.#finish();
  }

  async #fail(err: unknown): Promise<void> {
    const status = this.#ctx.fail(err);
    const was = this.#state;
    this.#state = 'ended';
    if (was !== 'subscribing') await this.#close(0);
    this.#finish(status);
  }

  #done = false;
  /** Ends the call: with `status`, or OK. */
  #finish(status?: StatusObject): void {
    if (this.#done) return;
    this.#done = true;
    if (status) this.#call.emit('error', status);
    else this.#call.end();
  }
}
