/**
 * CloudEvents as Dapr makes and reads them (`pkg/runtime/pubsub/cloudevents.go`, contrib `pubsub/envelope.go`).
 *
 * Envelopes are written as JSON text directly, so a JSON body is embedded byte for byte (numbers of any
 * size stay exact) once it is known to parse.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { GrpcCode, MortarError } from '../../errors.js';
import { checkTtl, InvalidTtl, TTL_KEY, withCheckedTtl } from '../ttl.js';
import { JsonTooDeep, parseRequestJson } from '../../request-json.js';

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
  /** `metadata.*` of the request (or entry), prefix stripped, passed through {@link publishMetadata}. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Incoming `traceparent` / `tracestate`, if any. */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** The component enforces TTL itself (`MESSAGE_TTL`): no `expiration` is added. */
  readonly brokerHasTtl: boolean;
}

/** The bytes to hand the broker and their content type. */
export interface Envelope {
  readonly data: Buffer;
  readonly contentType: string;
}

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

/**
 * The publish metadata a component and the envelope see: `ttlInSeconds` checked by the TTL rule (`../ttl.ts`)
 * and written as whole seconds, or removed when it means no expiry. An invalid TTL is a 400
 * `ERR_PUBSUB_REQUEST_METADATA` naming the field.
 */
export function publishMetadata(metadata: Readonly<Record<string, string>>): Record<string, string> {
  if (!(TTL_KEY in metadata)) return metadata as Record<string, string>;
  try {
    return withCheckedTtl(metadata as Record<string, string>, checkTtl(metadata[TTL_KEY], { durations: true }), false);
  } catch (err) {
    if (err instanceof InvalidTtl) throw new MortarError('ERR_PUBSUB_REQUEST_METADATA', [err.message]);
    throw err;
  }
}

/** `ttlInSeconds` in ms, from metadata already passed through {@link publishMetadata}; undefined when absent. */
export function ttlMs(metadata: Readonly<Record<string, string>>): number | undefined {
  const v = metadata[TTL_KEY];
  return v === undefined ? undefined : Number(v) * 1000;
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
      const parsed = parseRequestJson(input.body.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('a CloudEvent must be a JSON object');
      event = parsed as Record<string, unknown>;
    } catch (err) {
      // Too deep to handle is the caller's mistake; a body that is not a CloudEvent is Dapr's 500.
      const o = err instanceof JsonTooDeep ? { http: 400, grpc: GrpcCode.INVALID_ARGUMENT } : undefined;
      throw new MortarError('ERR_PUBSUB_CLOUD_EVENTS_SER', [input.topic, input.pubsub, (err as Error).message], o);
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
      id: randomUUID(),
      specversion: '1.0',
      datacontenttype: contentType,
      source: input.appId,
      type: EVENT_TYPE,
      topic: input.topic,
      pubsubname: input.pubsub,
      traceid: traceparent,
      traceparent,
      tracestate: input.tracestate ?? '',
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
  // The app's JSON goes in verbatim: JSON.parse + stringify would round big integers.
  return { data: Buffer.from(goMapJson(event, dataJson)), contentType: CLOUDEVENT_CONTENT_TYPE };
}

/**
 * An event as daprd writes it: Go's `json.Marshal` of a map, so the keys in sorted (byte) order, at the top
 * level. `rawData`: JSON text to write as `data` verbatim. Values themselves (an app's `data`) keep their own
 * key order. Keys holding `undefined` are left out.
 */
export function goMapJson(event: Record<string, unknown>, rawData?: string): string {
  const keys: string[] = [];
  let astral = false;
  let slow = false;
  for (const k in event) {
    if (!Object.hasOwn(event, k) || event[k] === undefined || (rawData !== undefined && k === 'data')) continue;
    keys.push(k);
    astral ||= SURROGATE.test(k);
    // JSON.stringify writes an object's keys in insertion order, except integer-like keys ("7"), which an
    // object always lists first in numeric order, and `__proto__`, which is no own key when assigned: with
    // one of those, write key by key.
    slow ||= (k.charCodeAt(0) <= 0x39 && INDEX_LIKE.test(k)) || k === '__proto__';
  }
  if (rawData !== undefined) keys.push('data');
  // UTF-16 order (plain sort) is code-point order, and so Go's byte order, unless a key holds a surrogate.
  if (astral) keys.sort(byCodePoint);
  else keys.sort();
  if (slow) return keyByKey(event, keys, rawData);
  const at = rawData === undefined ? -1 : keys.indexOf('data');
  const head: Record<string, unknown> = {};
  const tail: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) if (i !== at) (at < 0 || i < at ? head : tail)[keys[i]!] = event[keys[i]!];
  if (at < 0) return JSON.stringify(head);
  // The app's data goes between the keys before and after it, byte for byte; `data` sorts first among the
  // keys an envelope usually has, so there is usually nothing before it to write.
  const h = at === 0 ? '' : JSON.stringify(head).slice(1, -1);
  const t = at === keys.length - 1 ? '' : JSON.stringify(tail).slice(1, -1);
  return `{${h}${h === '' ? '' : ','}"data":${rawData}${t === '' ? '' : ','}${t}}`;
}

const SURROGATE = /[\ud800-\udfff]/;
/** Keys a JS object orders numerically before all others (array indices: canonical integers below 2^32 - 1). */
const INDEX_LIKE = /^(?:0|[1-9]\d{0,9})$/;

/** The slow path of {@link goMapJson}: one JSON.stringify per value. */
function keyByKey(event: Record<string, unknown>, keys: readonly string[], rawData: string | undefined): string {
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    out += `${i === 0 ? '' : ','}${JSON.stringify(k)}:${rawData !== undefined && k === 'data' ? rawData : JSON.stringify(event[k])}`;
  }
  return `${out}}`;
}

/** Code-point order, which is the byte order of UTF-8 (Go sorts map keys by their bytes). */
function byCodePoint(a: string, b: string): number {
  for (let i = 0, j = 0; i < a.length && j < b.length; ) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

/** A CloudEvent as delivered to an app: the JSON bytes to send and the parsed object (for routing). */
export interface InboundEvent {
  readonly json: Buffer;
  readonly event: Record<string, unknown>;
}

/**
 * Reads a broker message as a CloudEvent. `raw`: the subscription's rawPayload, for which Dapr synthesises
 * an event around the bytes (`FromRawPayload`). Throws when the message is not a CloudEvent.
 */
export function inbound(
  data: Uint8Array,
  contentType: string | undefined,
  raw: boolean,
  topic: string,
  pubsub: string,
  metadata: Readonly<Record<string, string>>,
): InboundEvent {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (raw) {
    const event: Record<string, unknown> = {
      id: randomUUID(),
      specversion: '1.0',
      datacontenttype: 'application/octet-stream',
      source: 'Dapr',
      type: EVENT_TYPE,
      topic,
      pubsubname: pubsub,
      data_base64: bytes.toString('base64'),
    };
    for (const k of ['traceid', 'traceparent', 'tracestate']) if (metadata[k] !== undefined) event[k] = metadata[k];
    return { json: Buffer.from(goMapJson(event)), event };
  }
  if (contentType !== undefined && isBinaryContentType(contentType)) {
    // A binary broker message: the event attributes travel as `ce-*` metadata (contrib: FromBinary).
    const event: Record<string, unknown> = {
      specversion: '1.0',
      datacontenttype: contentType,
      topic,
      pubsubname: pubsub,
      data_base64: bytes.toString('base64'),
    };
    for (const [k, v] of Object.entries(metadata)) if (k.startsWith('ce-') || k.startsWith('ce_')) event[k.slice(3)] = v;
    event.id ??= randomUUID();
    event.source ??= 'Dapr';
    event.type ??= EVENT_TYPE;
    return { json: Buffer.from(goMapJson(event)), event };
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
