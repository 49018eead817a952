// Baseline for the gRPC benchmark: a bare @grpc/grpc-js server answering dapr.proto.runtime.v1.Dapr/GetState
// from a Map, with the SDK's protos as `npm run build` copies them.
//   node grpc-baseline.mjs <grpc port> <ready port>   (GET http://127.0.0.1:<ready port>/ answers 204 once serving)
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const [port, readyPort] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = loadSync('dapr/proto/runtime/v1/dapr.proto', { includeDirs: [join(root, 'dist/proto')], longs: Number, enums: String, defaults: true });
const map = new Map([['store||k', { data: Buffer.from('{"n":1}'), etag: '1', metadata: {} }]]);
const server = new Server();
server.addService(pkg['dapr.proto.runtime.v1.Dapr'], {
  GetState(call, cb) {
    const item = map.get(`${call.request.storeName}||${call.request.key}`);
    cb(null, item ?? {});
  },
});
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  http.createServer((_req, res) => res.writeHead(204).end()).listen(Number(readyPort), '127.0.0.1');
});
