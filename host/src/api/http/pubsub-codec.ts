/**
 * The bulk publish API's JSON body and failure answer (spec 1.4): HTTP's translation to and from the
 * universal API's typed entries.
 */
import { MortarError, toDaprBody } from '../../errors.js';
import { isBinaryContentType, isCloudEventContentType, isJsonContentType } from '../../blocks/pubsub/cloudevents.js';
import { goFields } from '../../request-json.js';
import type { BulkPublishEntry, BulkPublishResult } from '../universal/requests.js';

/** An entry as the JSON body gives it: `event` is any JSON value, made bytes by `eventBytes`. */
interface JsonEntry {
  entryId: string;
  event: unknown;
  contentType: string;
  metadata?: Record<string, string>;
}

/**
 * daprd's `bulkPublishMessageEntry` field names, matched case-insensitively as Go's decoder matches them
 * (the official SDKs send `entryID`).
 */
const ENTRY_FIELDS = ['entryId', 'event', 'contentType', 'metadata'] as const;

/**
 * Decodes a parsed bulk publish body: an array of entries with unique `entryId`s, each event made the bytes
 * to publish (`eventBytes`). Any fault fails the whole request: `ERR_PUBSUB_EVENTS_SER` naming the entry.
 */
export function decodeBulkEntries(body: unknown): BulkPublishEntry[] {
  if (!Array.isArray(body))
    throw new MortarError('ERR_PUBSUB_EVENTS_SER', ['the body must be a JSON array of entries'], { reason: 'DAPR_PUBSUB_UNMARSHAL_EVENTS' });
  const ids = new Set<string>();
  return body.map((e: unknown, i: number) => {
    if (typeof e !== 'object' || e === null)
      throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${i} is not an object`], { reason: 'DAPR_PUBSUB_UNMARSHAL_EVENTS' });
    const x = goFields(e, ENTRY_FIELDS);
    if (typeof x.entryId !== 'string' || x.entryId === '')
      throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${i}: entryId is missing`], { reason: 'DAPR_PUBSUB_MARSHAL_EVENTS' });
    if (ids.has(x.entryId))
      throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${i}: entryId '${x.entryId}' is not unique`], { reason: 'DAPR_PUBSUB_MARSHAL_EVENTS' });
    ids.add(x.entryId);
    let metadata: Record<string, string> | undefined;
    if (x.metadata !== undefined && x.metadata !== null) {
      if (typeof x.metadata !== 'object')
        throw new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${i}: metadata must be an object`], { reason: 'DAPR_PUBSUB_UNMARSHAL_EVENTS' });
      metadata = Object.fromEntries(Object.entries(x.metadata as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    }
    const contentType =
      typeof x.contentType === 'string' && x.contentType !== '' ? x.contentType : typeof x.event === 'string' ? 'text/plain' : 'application/json';
    const entry: JsonEntry = { entryId: x.entryId, event: x.event, contentType, metadata };
    return { entryId: entry.entryId, event: eventBytes(entry, i), contentType, metadata };
  });
}

/** Dapr `ConvertEventToBytes`: how a bulk entry's `event` becomes the bytes to publish. */
function eventBytes(e: JsonEntry, index: number): Buffer {
  const fail = (why: string) => new MortarError('ERR_PUBSUB_EVENTS_SER', [`entry ${index}: ${why}`], { reason: 'DAPR_PUBSUB_MARSHAL_ENVELOPE' });
  if (isBinaryContentType(e.contentType)) {
    if (typeof e.event !== 'string') throw fail(`event must be a base64 string for content type ${e.contentType}`);
    return Buffer.from(e.event, 'base64');
  }
  if (isJsonContentType(e.contentType) || isCloudEventContentType(e.contentType)) return Buffer.from(JSON.stringify(e.event ?? null));
  if (typeof e.event !== 'string') throw fail(`event must be a string for content type ${e.contentType}`);
  return Buffer.from(e.event);
}

/**
 * The 500 answer when some entries failed: the body `{failedEntries, errorCode, message}` and the headers
 * `metadata.responseData` / `metadata.error` daprd sends.
 */
export function bulkFailure(
  result: BulkPublishResult,
  pubsub: string,
  topic: string,
  appId: string,
): { body: Record<string, unknown>; headers: Record<string, string> } {
  const e = new MortarError('ERR_PUBSUB_PUBLISH_MESSAGE', [topic, pubsub, `${result.failedEntries.length} of the entries failed`]);
  const errBody = { failedEntries: result.failedEntries, errorCode: e.code };
  return {
    body: { ...errBody, message: toDaprBody(e, appId).message },
    headers: { 'metadata.responseData': JSON.stringify(errBody), 'metadata.error': e.message },
  };
}
