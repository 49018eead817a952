// The baselines mortar is measured against: a bare fastify server answering Dapr's state GET route,
// from a Map (`map`) or from Redis with ioredis running the same Lua read mortar's state.redis runs (`redis`).
import Fastify from 'fastify';
import { Redis } from 'ioredis';

const [mode, port, redisHost = '127.0.0.1:6379'] = process.argv.slice(2);
const app = Fastify({ logger: false });
const GET = `
local r = redis.call('HMGET', KEYS[1], 'data', 'version')
if not r[1] then return false end
return {r[1], r[2], redis.call('PTTL', KEYS[1])}`;

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
    if (!r) return reply.code(204).send();
    return reply.code(200).header('etag', r[1].toString()).type('application/json').send(r[0]);
  });
}
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.on('SIGTERM', () => process.exit(0));
