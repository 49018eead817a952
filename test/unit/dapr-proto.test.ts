/**
 * The one reading of the Dapr protos (host/src/dapr-proto.ts) that the gRPC API and the gRPC app channel share:
 * its per-method codecs decode and encode exactly as @grpc/proto-loader's codecs with the same options (what
 * both ends used before) do, from the SDK's .proto text parsed here independently of the JSON descriptor.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import { DAPR_PACKAGE, methodCodec, packageServices, serviceMethods } from '../../host/src/dapr-proto.js';
import { ROOT } from '../helpers/sidecar.js';

const OPTIONS = { longs: Number, enums: Number, bytes: Buffer, defaults: true, arrays: true, objects: true, oneofs: true } as const;
const pkg = loadSync('dapr/proto/runtime/v1/dapr.proto', { includeDirs: [join(ROOT, 'dist/proto')], ...OPTIONS });
interface Definition {
  requestSerialize(m: unknown): Buffer;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(m: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
  requestStream: boolean;
  responseStream: boolean;
}
const loader = (service: string, method: string) => (pkg[`${DAPR_PACKAGE}.${service}`] as unknown as Record<string, Definition>)[method]!;

/** Requests (and responses) with the fields that take conversions: bytes, maps, enums, nested and null messages, Struct. */
const CASES: Array<{ service: string; method: string; request: Record<string, unknown>; response: Record<string, unknown> }> = [
  {
    service: 'Dapr',
    method: 'GetState',
    request: { storeName: 'store', key: 'k', consistency: 2, metadata: { partitionKey: 'p' } },
    response: { data: Buffer.from('{"n":1}'), etag: '3', metadata: { ttlExpireTime: 'x' } },
  },
  {
    service: 'Dapr',
    method: 'SaveState',
    request: {
      storeName: 'store',
      states: [
        { key: 'a', value: Buffer.from([0, 1, 2]), etag: { value: '7' }, metadata: { m: 'v' }, options: { concurrency: 1, consistency: 2 } },
        { key: 'b', value: Buffer.alloc(0) },
      ],
    },
    response: {},
  },
  {
    service: 'Dapr',
    method: 'ExecuteStateTransaction',
    request: {
      storeName: 'store',
      operations: [{ operationType: 'upsert', request: { key: 'a', value: Buffer.from('x') } }, { operationType: 'delete' }],
      metadata: {},
    },
    response: {},
  },
  {
    service: 'Dapr',
    method: 'PublishEvent',
    request: { pubsubName: 'p', topic: 't', data: Buffer.from('{"a":1}'), dataContentType: 'application/json', metadata: { rawPayload: 'true' } },
    response: {},
  },
  {
    service: 'AppCallback',
    method: 'OnTopicEvent',
    request: {
      id: '1',
      source: 's',
      type: 't',
      specVersion: '1.0',
      dataContentType: 'text/plain',
      data: Buffer.from('hi'),
      topic: 'orders',
      pubsubName: 'p',
      path: '/in',
      extensions: { fields: { traceid: { stringValue: 'x' }, n: { numberValue: 2 }, nested: { structValue: { fields: { ok: { boolValue: true } } } } } },
    },
    response: { status: 1 },
  },
  {
    service: 'AppCallback',
    method: 'ListTopicSubscriptions',
    request: {},
    response: {
      subscriptions: [
        {
          pubsubName: 'p',
          topic: 't',
          metadata: { a: 'b' },
          routes: { rules: [{ match: 'event.type == "x"', path: '/x' }], default: '/d' },
          deadLetterTopic: 'dlq',
          bulkSubscribe: { enabled: true, maxMessagesCount: 10, maxAwaitDurationMs: 100 },
        },
        { pubsubName: 'p', topic: 'u' },
      ],
    },
  },
];

describe('the Dapr protos, read once for both gRPC ends (dapr-proto.ts)', () => {
  for (const c of CASES) {
    it(`${c.service}.${c.method}: requests and responses encode to the same bytes and decode to the same objects as @grpc/proto-loader's codecs`, () => {
      const ours = methodCodec(`${DAPR_PACKAGE}.${c.service}`, c.method);
      const theirs = loader(c.service, c.method);
      const reqBytes = theirs.requestSerialize(c.request);
      assert.deepEqual(ours.encodeRequest(c.request), reqBytes);
      assert.deepEqual(ours.decodeRequest(reqBytes), theirs.requestDeserialize(reqBytes));
      const resBytes = theirs.responseSerialize(c.response);
      assert.deepEqual(ours.encodeResponse(c.response), resBytes);
      assert.deepEqual(ours.decodeResponse(resBytes), theirs.responseDeserialize(resBytes));
      // An empty message decodes with every field at its default, as proto-loader's does.
      assert.deepEqual(ours.decodeRequest(Buffer.alloc(0)), theirs.requestDeserialize(Buffer.alloc(0)));
    });
  }

  it('lists every service of the package and every method with its streaming kinds, as proto-loader does', () => {
    const services = packageServices(DAPR_PACKAGE);
    for (const s of ['Dapr', 'AppCallback', 'AppCallbackHealthCheck', 'AppCallbackAlpha']) assert.ok(services.includes(`${DAPR_PACKAGE}.${s}`), s);
    for (const service of services) {
      const theirs = pkg[service] as unknown as Record<string, Definition>;
      const ours = serviceMethods(service);
      assert.deepEqual(
        ours.map((m) => m.name),
        Object.keys(theirs),
      );
      for (const m of ours)
        assert.deepEqual([m.requestStream, m.responseStream], [theirs[m.name]!.requestStream, theirs[m.name]!.responseStream], `${service}/${m.name}`);
    }
  });

  it('builds a codec once and reuses it; an unknown method is an error naming it', () => {
    assert.equal(methodCodec(`${DAPR_PACKAGE}.Dapr`, 'GetState'), methodCodec(`${DAPR_PACKAGE}.Dapr`, 'GetState'));
    assert.throws(() => methodCodec(`${DAPR_PACKAGE}.Dapr`, 'NoSuchMethod'), /no method NoSuchMethod in dapr\.proto\.runtime\.v1\.Dapr/);
    assert.throws(() => serviceMethods(`${DAPR_PACKAGE}.NoSuchService`), /no service dapr\.proto\.runtime\.v1\.NoSuchService/);
  });
});
