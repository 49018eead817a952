/**
 * The identity of this sidecar among the sidecars of its app: stable across its restarts, distinct between
 * sidecars. Brokers without server-side consumer groups need it to tell consumers apart and to find their
 * own session again after a restart (an MQTT client id beside a shared subscription).
 *
 * In Kubernetes it is the pod name (`POD_NAME`, as daprd reads it), which survives container restarts.
 * Elsewhere it is a random id kept in the data directory, per app id, made on first start. Two sidecars of
 * one app sharing a data directory therefore share the id; give each its own `--data-dir`. Where the data
 * directory cannot be written, the id lasts as long as the process.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Characters kept from a pod name or app id in a file name or broker name. */
const SAFE = /[^A-Za-z0-9._-]/g;

export function sidecarId(dataDir: string, appId: string, env: NodeJS.ProcessEnv = process.env): string {
  const pod = env.POD_NAME?.trim();
  if (pod) return pod.replace(SAFE, '_');
  const dir = join(dataDir, 'sidecar');
  const file = join(dir, `${appId.replace(SAFE, '_')}.id`);
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (/^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
  } catch {
    /* first start */
  }
  const id = randomUUID().replace(/-/g, '').slice(0, 16);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, `${id}\n`);
  } catch {
    /* a data directory we cannot write: the id lasts as long as this process */
  }
  return id;
}
