/**
 * The cores this process may keep busy: its CPU affinity (`os.availableParallelism`), capped by the CPU quota
 * of its cgroup when one is set. In a container the affinity is usually the node's every core while the quota
 * is what the pod may use (`resources.limits.cpu: "1"` in `deploy/`): sizing pools by the affinity there
 * starts workers the quota then throttles. Used for the default pool sizes (`config.ts` `DEFAULTS`) and for
 * whether an instance may spin for its next call (`call-wait.ts`).
 *
 * The quota is read as the JVM and Go's automaxprocs read it: for each hierarchy `/proc/self/cgroup` names,
 * the process's cgroup and every ancestor up to the mount's root (`/sys/fs/cgroup/...`), the tightest limit
 * found: cgroup v2's `cpu.max` (`<quota> <period>` or `max <period>`), cgroup v1's `cpu.cfs_quota_us` over
 * `cpu.cfs_period_us` (-1: none). Inside a cgroup namespace the path is `/`, the root itself.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a file's text, or undefined if it cannot be read. */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** This process's figure, read once (the pool sizes and the spin rule both ask at start). */
let ours: number | undefined;

/** `read`: where the cgroup files are read from (tests give a fake one; then nothing is remembered). */
export function usableCores(read?: ReadText): number {
  if (read === undefined && ours !== undefined) return ours;
  const cores = availableParallelism();
  const quota = cpuQuota(read ?? readText);
  const usable = quota === undefined ? cores : Math.min(cores, quota);
  if (read === undefined) ours = usable;
  return usable;
}

/** The tightest CPU quota of this process's cgroups, in cores; undefined when none is set. */
export function cpuQuota(read: ReadText = readText): number | undefined {
  let tightest: number | undefined;
  const take = (cores: number) => {
    if (cores > 0 && Number.isFinite(cores) && (tightest === undefined || cores < tightest)) tightest = cores;
  };
  for (const line of (read('/proc/self/cgroup') ?? '').split('\n')) {
    // `<id>:<controllers>:<path>`; v2's controllers are empty.
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1).trim();
    if (controllers === '') {
      for (const dir of upFrom('/sys/fs/cgroup', path)) {
        const [quota, period] = (read(`${dir}/cpu.max`) ?? '').trim().split(/\s+/);
        if (quota !== 'max') take(Number(quota) / Number(period));
      }
    } else if (controllers.split(',').includes('cpu')) {
      for (const root of ['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpu'])
        for (const dir of upFrom(root, path)) take(Number(read(`${dir}/cpu.cfs_quota_us`)) / Number(read(`${dir}/cpu.cfs_period_us`)));
    }
  }
  return tightest;
}

/** `root` + `path`, then each of its parents up to `root` itself. */
function upFrom(root: string, path: string): string[] {
  const parts = path.split('/').filter((p) => p && p !== '..');
  const dirs: string[] = [];
  for (let n = parts.length; n >= 0; n--) dirs.push([root, ...parts.slice(0, n)].join('/'));
  return dirs;
}
