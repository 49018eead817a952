// The spike's one read (README.md): state.redis's own read script for `orders||<key>`, its packed answer
// decoded to the value's bytes (undefined: no such key). Used by a worker (`redis`) and the store thread (`port`).
export async function readValue(redis, script, key) {
  const r = await redis.evalBuffer(script, 1, `orders||${key}`);
  const len = r.readInt32BE(0);
  return len < 0 ? undefined : new Uint8Array(r.subarray(20, 20 + len));
}
