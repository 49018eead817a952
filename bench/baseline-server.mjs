// The baselines mortar is measured against: a bare fastify server answering Dapr's state GET route,
// from a Map (`map`) or from Redis with ioredis running the same Lua read mortar's state.redis runs (`redis`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const [mode, port, redisHost = '127.0.0.1:6379'] = process.argv.slice(2);
const app = Fastify({ logger: false });
// state.redis's read script (MGET), taken from the component's own source so the two cannot drift apart;
// the baseline runs it for its one key.
const source = readFileSync(fileURLToPath(new URL('../components-wasm/state.redis/index.ts', import.meta.url)), 'utf8');
const GET = /const MGET = `([^`]*)`;/.exec(source)?.[1];
if (!GET) throw new Error('bench: the MGET script was not found in components-wasm/state.redis/index.ts');

if (mode === 'map') {
  const map = new Map([['orders||k', Buffer.from('{"n":1}')]]);
  app.get('/v1.0/state/:store/:key', async (req, reply) => {
    const v = map.get(`orders||${req.params.key}`);
    if (!v) return reply.code(204).send();
    return reply.code(200).header('etag', '1').type('application/json').send(v);
  });
} else {
  const [host, p] = redisHost.split(':');
  const redis = new Redis({ host, port: Number(p) });
  app.get('/v1.0/state/:store/:key', async (req, reply) => {
    const r = await redis.evalBuffer(GET, 1, `orders||${req.params.key}`);
    const len = r.readInt32BE(0);
    if (len < 0) return reply.code(204).send();
    return reply
      .code(200)
      .header('etag', String(r.readDoubleBE(4)))
      .type('application/json')
      .send(r.subarray(20, 20 + len));
  });
}
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.on('SIGTERM', () => process.exit(0));
