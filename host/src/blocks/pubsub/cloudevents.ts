/**
 * CloudEvents as Dapr makes and reads them (`pkg/runtime/pubsub/cloudevents.go`, contrib `pubsub/envelope.go`).
 *
 * Envelopes are written as JSON text directly, so a JSON body is embedded byte for byte (numbers of any
 * size stay exact) once it is known to parse.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { MortarError } from '../../errors.js';
import { parseDuration } from '../../duration.js';

export const CLOUDEVENT_CONTENT_TYPE = 'application/cloudevents+json';
const EVENT_TYPE = 'com.dapr.event.sent';

/** What the publish API knows about one event to wrap. */
export interface PublishInput {
  readonly pubsub: string;
  readonly topic: string;
  readonly appId: string;
  readonly body: Buffer;
  /** The request's Content-Type (missing: `text/plain`). */
  readonly contentType?: string;
  /** `metadata.*` of the request (or entry), prefix stripped. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Incoming `traceparent` / `tracestate`, if any. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** The component enforces TTL itself (`MESSAGE_TTL`): no `expiration` is added. */
  readonly brokerHasTtl: boolean;
}

/** The bytes to hand the broker and their content type. */
export interface Envelope { readonly data: Buffer; readonly contentType: string }

export function isJsonContentType(ct: string): boolean {
  const t = ct.split(';')[0]!.trim().toLowerCase();
  return t === 'application/json' || t === 'text/json' || t.endsWith('+json');
}

/** Dapr: `application/octet-stream` (and protobuf) payloads go in `data_base64`. */
export function isBinaryContentType(ct: string): boolean {
  const t = ct.split(';')[0]!.trim().toLowerCase();
  return t.startsWith('application/octet-stream') || t === 'application/protobuf' || t === 'application/x-protobuf';
}

export function isCloudEventContentType(ct: string | undefined): boolean {
  return ct !== undefined && ct.split(';')[0]!.trim().toLowerCase() === CLOUDEVENT_CONTENT_TYPE;
}

/** `strconv.ParseBool`: the values Go accepts; anything else is an error. */
export function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Reads `rawPayload`; an invalid value is a 400 `ERR_PUBSUB_REQUEST_METADATA`. */
export function rawPayload(metadata: Readonly<Record<string, string>>): boolean {
  const v = metadata.rawPayload;
  if (v === undefined || v === '') return false;
  const b = parseBool(v);
  if (b === undefined) throw new MortarError('ERR_PUBSUB_REQUEST_METADATA', [`rawPayload: '${v}' is not a boolean`]);
  return b;
}

/** `ttlInSeconds`: integer seconds or a Go duration; undefined when absent. */
export function ttlMs(metadata: Readonly<Record<string, string>>): number | undefined {
  const v = metadata.ttlInSeconds;
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const ms = parseDuration(v);
  if (ms === undefined) {
    throw new MortarError('ERR_PUBSUB_REQUEST_METADATA', [`ttlInSeconds: '${v}' is neither a number of seconds nor a duration such as 10s`]);
  }
  return ms;
}

/** RFC 3339 with Dapr's precision (seconds, UTC). */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}

const OVERRIDES = ['id', 'source', 'type', 'traceparent', 'tracestate', 'subject'] as const;

/**
 * Wraps a published body in a CloudEvent, or passes it through for `rawPayload`, as `POST /v1.0/publish` does.
 */
export function envelope(input: PublishInput): Envelope {
  const contentType = input.contentType?.trim() || 'text/plain';
  if (rawPayload(input.metadata)) return { data: input.body, contentType };
  const ttl = ttlMs(input.metadata);
  const expiration = ttl !== undefined && !input.brokerHasTtl ? rfc3339(Date.now() + ttl) : undefined;
  const traceparent = input.traceparent ?? newTraceparent();

  let event: Record<string, unknown>;
  let dataJson: string | undefined;
  if (isCloudEventContentType(contentType)) {
    // An app-made CloudEvent: Dapr keeps it, overwrites topic and pubsubname and fills in what is missing.
    try {
      const parsed = JSON.parse(input.body.toString('utf8')) as unknown;
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('a CloudEvent must be a JSON object');
      event = parsed as Record<string, unknown>;
    } catch (err) {
      throw new MortarError('ERR_PUBSUB_CLOUD_EVENTS_SER', [input.topic, input.pubsub, (err as Error).message]);
    }
    event.id ??= randomUUID();
    event.specversion ??= '1.0';
    event.source ??= 'Dapr';
    event.type ??= EVENT_TYPE;
    event.time ??= new Date().toISOString();
    event.traceid ??= traceparent;
    event.traceparent ??= traceparent;
    if (input.tracestate !== undefined) event.tracestate ??= input.tracestate;
    event.topic = input.topic;
    event.pubsubname = input.pubsub;
    if (expiration !== undefined) event.expiration = expiration;
  } else {
    event = {
      id: randomUUID(), specversion: '1.0', datacontenttype: contentType, source: input.appId, type: EVENT_TYPE,
      topic: input.topic, pubsubname: input.pubsub, traceid: traceparent, traceparent, tracestate: input.tracestate ?? '',
      time: new Date().toISOString(),
    };
    if (expiration !== undefined) event.expiration = expiration;
    if (isBinaryContentType(contentType)) {
      event.data_base64 = input.body.toString('base64');
    } else {
      const text = input.body.toString('utf8');
      if (isJsonContentType(contentType) && text.trim() !== '') {
        try {
          JSON.parse(text);
          dataJson = text.trim();
        } catch {
          event.data = text;
        }
      } else {
        event.data = text;
      }
    }
  }
  for (const k of OVERRIDES) {
    const v = input.metadata[`cloudevent.${k}`];
    if (v !== undefined) {
      event[k] = v;
      if (k === 'traceparent') event.traceid = v;
    }
  }
  let json = JSON.stringify(event);
  // Splice the app's JSON in verbatim: JSON.parse + stringify would round big integers.
  if (dataJson !== undefined) json = `${json.slice(0, -1)},"data":${dataJson}}`;
  return { data: Buffer.from(json), contentType: CLOUDEVENT_CONTENT_TYPE };
}

/** A CloudEvent as delivered to an app: the JSON bytes to send and the parsed object (for routing). */
export interface InboundEvent { readonly json: Buffer; readonly event: Record<string, unknown> }

/**
 * Reads a broker message as a CloudEvent. `raw`: the subscription's rawPayload, for which Dapr synthesises
 * an event around the bytes (`FromRawPayload`). Throws when the message is not a CloudEvent.
 */
export function inbound(data: Uint8Array, contentType: string | undefined, raw: boolean, topic: string, pubsub: string, metadata: Readonly<Record<string, string>>): InboundEvent {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (raw) {
    const event: Record<string, unknown> = {
      id: randomUUID(), specversion: '1.0', datacontenttype: 'application/octet-stream', source: 'Dapr', type: EVENT_TYPE,
      topic, pubsubname: pubsub, data_base64: bytes.toString('base64'),
    };
    for (const k of ['traceid', 'traceparent', 'tracestate']) if (metadata[k] !== undefined) event[k] = metadata[k];
    return { json: Buffer.from(JSON.stringify(event)), event };
  }
  if (contentType !== undefined && isBinaryContentType(contentType)) {
    // A binary broker message: the event attributes travel as `ce-*` metadata (contrib: FromBinary).
    const event: Record<string, unknown> = { specversion: '1.0', datacontenttype: contentType, topic, pubsubname: pubsub, data_base64: bytes.toString('base64') };
    for (const [k, v] of Object.entries(metadata)) if (k.startsWith('ce-') || k.startsWith('ce_')) event[k.slice(3)] = v;
    event.id ??= randomUUID();
    event.source ??= 'Dapr';
    event.type ??= EVENT_TYPE;
    return { json: Buffer.from(JSON.stringify(event)), event };
  }
  const parsed = JSON.parse(bytes.toString('utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('the message is not a CloudEvent (not a JSON object)');
  return { json: bytes, event: parsed as Record<string, unknown> };
}

/** Whether an event's `expiration` has passed. */
export function expired(event: Record<string, unknown>, now = Date.now()): boolean {
  const e = event.expiration;
  if (typeof e !== 'string' || e === '') return false;
  const t = Date.parse(e);
  return Number.isFinite(t) && t < now;
}
