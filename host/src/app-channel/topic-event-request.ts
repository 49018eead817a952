/**
 * A CloudEvent as daprd's `TopicEventRequest` (`rtpubsub.GRPCEnvelopeFromSubscriptionMessage`), shared by
 * the two places that send one: the gRPC app channel (`OnTopicEvent`, `grpc-channel.ts`) and the gRPC API's
 * streaming subscription (`SubscribeTopicEventsAlpha1`'s event messages, `api/grpc/topic-events.ts`).
 */

/** CloudEvent attributes that have their own TopicEventRequest field (or are the data); the rest are extensions. */
const CE_FIELDS = new Set(['id', 'source', 'type', 'specversion', 'datacontenttype', 'data', 'data_base64']);
/** A JSON value as a `google.protobuf.Value` object, for the `extensions` Struct. */
function toValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: toStruct(v as Record<string, unknown>) };
}
function toStruct(o: Record<string, unknown>): { fields: Record<string, unknown> } {
  return { fields: Object.fromEntries(Object.entries(o).map(([k, v]) => [k, toValue(v)])) };
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** daprd `contenttype.IsStringContentType`. */
function isStringContentType(ct: string): boolean {
  const t = ct.toLowerCase();
  return t.startsWith('text/') || t.includes('xml') || t === 'application/x-www-form-urlencoded' || t === '';
}
/** daprd `contenttype.IsJSONContentType` / `IsCloudEventContentType`. */
function isJsonContentType(ct: string): boolean {
  const t = ct.toLowerCase().split(';')[0]!.trim();
  return t === 'application/json' || t.endsWith('+json');
}

/**
 * A CloudEvent (as the delivery loop sends it) as daprd's `TopicEventRequest` (postman/grpc `Deliver`):
 * `data_base64` decoded, else `data` as text for string content types, as JSON for JSON ones; every other
 * attribute an extension.
 */
export function topicEventRequest(event: Record<string, unknown>, topic: string, pubsubName: string, path: string): Record<string, unknown> {
  const dataContentType = str(event.datacontenttype);
  let data: Buffer = Buffer.alloc(0);
  if (typeof event.data_base64 === 'string') data = Buffer.from(event.data_base64, 'base64');
  else if (event.data !== undefined && event.data !== null) {
    const asText = typeof event.data === 'string' && (isStringContentType(dataContentType) || !isJsonContentType(dataContentType));
    data = Buffer.from(asText ? (event.data as string) : JSON.stringify(event.data), 'utf8');
  }
  const extensions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) if (!CE_FIELDS.has(k)) extensions[k] = v;
  return {
    id: str(event.id),
    source: str(event.source),
    type: str(event.type),
    specVersion: str(event.specversion),
    dataContentType,
    data,
    topic,
    pubsubName,
    path,
    extensions: toStruct(extensions),
  };
}
