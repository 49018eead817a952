/**
 * The cores this process may keep busy: its CPU affinity (`os.availableParallelism`), capped by the cgroup v2
 * CPU quota (`/sys/fs/cgroup/cpu.max`) when one is set. In a container the affinity is usually the node's
 * every core while the quota is what the pod may use (`resources.limits.cpu: "1"` in `deploy/`): sizing
 * pools by the affinity there starts workers the quota then throttles. Used for the default pool sizes
 * (`config.ts` `DEFAULTS`) and for whether an instance may spin for its next call (`call-wait.ts`).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** `cpuMax`: the text of `cpu.max` (`<quota> <period>`, or `max <period>`); read from the cgroup when not given. */
export function usableCores(cpuMax = readCpuMax()): number {
  const cores = availableParallelism();
  const [quota, period] = (cpuMax ?? '').trim().split(/\s+/);
  const share = Number(quota) / Number(period);
  return quota !== 'max' && share > 0 ? Math.min(cores, share) : cores;
}

function readCpuMax(): string | undefined {
  try {
    return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
  } catch {
    return undefined;
  }
}
