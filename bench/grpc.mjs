// The gRPC API benchmarks: state GET over gRPC (`GetState` on state.in-memory) against a bare @grpc/grpc-js
// server answering the same method from a Map, throughput (32 calls in flight) and added latency at low load
// (one call at a time). The load comes from node:http2 speaking gRPC's framing by hand (a unary call is one
// HTTP/2 stream): a @grpc/grpc-js client costs the bench process so much CPU per call that it, not either
// server, would set the pace (3.8k calls/s against the bare server, measured here).
import http2 from 'node:http2';
import { join } from 'node:path';
import { freePort, median, serialSamples, startProcess, stop } from './lib.mjs';

/** A protobuf varint. */
function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** A protobuf length-delimited field (a string or bytes; field numbers below 16). */
export const field = (n, value) => {
  const b = Buffer.from(value);
  return Buffer.concat([Buffer.from([(n << 3) | 2]), varint(b.length), b]);
};

/** A gRPC message frame: no compression, 4-byte length, the message. */
export function frame(message) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/**
 * A unary client of `method` (of `dapr.proto.runtime.v1.Dapr`) at `port` over one HTTP/2 connection:
 * `call(body)` sends a framed request (`frame`) and resolves with the response message bytes (rejects unless
 * grpc-status is 0).
 */
export function unaryClient(port, method) {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  const headers = { ':method': 'POST', ':path': `/dapr.proto.runtime.v1.Dapr/${method}`, 'content-type': 'application/grpc', te: 'trailers' };
  return {
    call: (body) =>
      new Promise((resolve, reject) => {
        const req = session.request(headers);
        const chunks = [];
        let status;
        req.on('response', (h) => {
          status = h['grpc-status'];
        });
        req.on('trailers', (t) => {
          status = t['grpc-status'];
        });
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => (String(status) === '0' ? resolve(Buffer.concat(chunks).subarray(5)) : reject(new Error(`grpc-status ${status}`))));
        req.on('error', reject);
        req.end(body);
      }),
    close: () => session.close(),
  };
}

/** A GetState client of `port` (`GetStateRequest`: 1 store_name, 2 key); `get()` resolves with the response bytes. */
function client(port) {
  const c = unaryClient(port, 'GetState');
  const body = frame(Buffer.concat([field(1, 'store'), field(2, 'k')]));
  return { get: () => c.call(body), close: c.close };
}

/** Calls completed per second with `inFlight` calls kept going for `seconds`. */
async function rate(get, seconds = 3, inFlight = 32) {
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await get();
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

/** p50 of `n` calls made one at a time, in ms. */
async function p50(get, n = 2000) {
  return median(await serialSamples(get, n, 300));
}

/** `state.in-memory` GetState over gRPC vs a bare grpc-js server; `m` is a started sidecar with store `store` seeded. */
export async function grpcStateGet({ root, grpcPort }, rounds = 5) {
  const port = await freePort();
  const ready = await freePort();
  const b = await startProcess(process.execPath, [join(root, 'bench/grpc-baseline.mjs'), String(port), String(ready)], `http://127.0.0.1:${ready}/`, [204]);
  const ours = client(grpcPort);
  const theirs = client(port);
  try {
    // Both answer a GetStateResponse whose data (field 1) is the seeded value.
    for (const c of [ours, theirs]) if (!(await c.get()).includes(Buffer.from('{"n":1}'))) throw new Error('GetState answered the wrong value');
    await rate(ours.get, 2);
    await rate(theirs.get, 2);
    const ratios = [];
    const a = [];
    const z = [];
    for (let i = 0; i < rounds; i++) {
      a.push(await rate(ours.get));
      z.push(await rate(theirs.get));
      ratios.push(a.at(-1) / z.at(-1));
    }
    const lat = [];
    for (let i = 0; i < 3; i++) lat.push({ m: await p50(ours.get), b: await p50(theirs.get) });
    return {
      throughput: { ratio: median(ratios), ratios, value: median(a), baseline: median(z) },
      latency: { added: median(lat.map((r) => r.m - r.b)), m: median(lat.map((r) => r.m)), b: median(lat.map((r) => r.b)) },
    };
  } finally {
    ours.close();
    theirs.close();
    await stop(b.proc);
  }
}
