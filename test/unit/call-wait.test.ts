/**
 * How an instance waits for its next call (`call-wait.ts`): it spins while calls come close together and
 * parks when they stop, one thread of the process at a time, only given two cores' worth of CPU; a thread
 * terminated mid-spin does not keep the spinner word. Driven with a real worker thread.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { CTL_POSTED, CTL_WORDS } from '../../host/src/components/sandbox/protocol.js';
import { SPIN_WINDOW_MS, releaseSpinnerWord, spinnerWord } from '../../host/src/components/sandbox/call-wait.js';
import { usableCores } from '../../host/src/usable-cores.js';
import { instancesFor, workloadInstancesFor } from '../../host/src/config.js';

const CALL_WAIT = new URL('../../host/src/components/sandbox/call-wait.js', import.meta.url).href;

it("usable cores: the CPU affinity, capped by the tightest cgroup (v2 or v1) CPU quota along the process's cgroup path; under two, no spinner word; the pool-size rules", () => {
  const cores = availableParallelism();
  /** A reader over a fake /proc and /sys. */
  const fs = (files: Record<string, string>) => (path: string) => files[path];
  const v2 = (cpuMax: string) => fs({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': cpuMax });
  assert.equal(usableCores(fs({})), cores, 'no cgroup files');
  assert.equal(usableCores(v2('max 100000\n')), cores, 'no quota');
  assert.equal(usableCores(v2('50000 100000\n')), Math.min(cores, 0.5), 'half a core');
  assert.equal(usableCores(v2('400000 100000')), Math.min(cores, 4));
  assert.equal(usableCores(v2('garbage')), cores, 'unreadable: the affinity');
  // Without a cgroup namespace: the pod's limit is on an ancestor of the process's cgroup, the tightest counts.
  const nested = fs({
    '/proc/self/cgroup': '0::/kubepods/pod1/c1\n',
    '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000',
    '/sys/fs/cgroup/kubepods/pod1/cpu.max': '75000 100000',
    '/sys/fs/cgroup/kubepods/cpu.max': '800000 100000',
  });
  assert.equal(usableCores(nested), Math.min(cores, 0.75), 'v2: the tightest along the path');
  const v1 = fs({
    '/proc/self/cgroup': '12:memory:/docker/x\n4:cpu,cpuacct:/docker/x\n',
    '/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us': '150000\n',
    '/sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us': '100000\n',
    '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
    '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
  });
  assert.equal(usableCores(v1), Math.min(cores, 1.5), 'cgroup v1: cfs quota over period; -1 is none');
  assert.equal(spinnerWord(1), undefined, 'one core: no spinner word, so no instance spins');
  // The default pool sizes follow the usable cores: a pod limited to one CPU on a big node starts few workers.
  assert.deepEqual([0.5, 1, 2, 3, 8, 64].map(instancesFor), [1, 1, 1, 2, 4, 4], 'instances per component');
  assert.deepEqual([0.5, 1, 1.5, 2, 4, 64].map(workloadInstancesFor), [2, 2, 3, 4, 8, 8], 'instances per workload');
  assert.ok(spinnerWord(2) instanceof SharedArrayBuffer);
});

/** A worker that waits with `CallWait` and counts the calls it saw in word 1 of `ctl` (CTL_STARTED's place). */
function waiter(ctl: SharedArrayBuffer, spinner: SharedArrayBuffer | undefined): Worker {
  const code = `
    const { workerData, threadId } = require('node:worker_threads');
    import(${JSON.stringify(CALL_WAIT)}).then(({ CallWait }) => {
      const ctl = new Int32Array(workerData.ctl);
      const wait = new CallWait(ctl, workerData.spinner, threadId);
      let seen = 0;
      for (;;) {
        seen = wait.next(seen);
        Atomics.store(ctl, 1, seen);
        Atomics.notify(ctl, 1);
      }
    });`;
  return new Worker(code, { eval: true, workerData: { ctl, spinner } });
}

/** Posts one call and blocks until the worker has seen it. */
function call(ctl: Int32Array): void {
  const n = Atomics.add(ctl, CTL_POSTED, 1) + 1;
  Atomics.notify(ctl, CTL_POSTED);
  while (Atomics.load(ctl, 1) !== n) Atomics.wait(ctl, 1, Atomics.load(ctl, 1), 1000);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('an instance spins for its next call while calls come within the window, and parks once they stop', {
  skip: usableCores() < 2 && 'needs two cores',
}, async () => {
  const ctl = new Int32Array(new SharedArrayBuffer(4 * CTL_WORDS));
  const spinner = spinnerWord()!;
  const word = new Int32Array(spinner);
  const w = waiter(ctl.buffer as SharedArrayBuffer, spinner);
  try {
    await new Promise((r) => w.once('online', r));
    await sleep(50);
    call(ctl); // after a long idle: parked, so the next wait does not spin
    await sleep(20);
    assert.equal(Atomics.load(word, 0), 0, 'a call after a long gap: the instance parks');
    // Close calls: from the second on, the instance spins between them.
    let spun = 0;
    for (let i = 0; i < 20; i++) {
      call(ctl);
      const t0 = performance.now();
      while (performance.now() - t0 < SPIN_WINDOW_MS / 4) if (Atomics.load(word, 0) === w.threadId) spun++;
    }
    assert.ok(spun > 0, 'the spinner word held by the instance between close calls');
    // A gap wider than the window: the spin ends, and the word is free again.
    await sleep(SPIN_WINDOW_MS * 20);
    assert.equal(Atomics.load(word, 0), 0, 'the spin ended after the window');
  } finally {
    await w.terminate();
  }
});

it('a thread terminated mid-spin frees the spinner word, and only a word it held', () => {
  const word = new SharedArrayBuffer(4);
  const view = new Int32Array(word);
  Atomics.store(view, 0, 7);
  releaseSpinnerWord(word, 8);
  assert.equal(Atomics.load(view, 0), 7, 'held by another thread: kept');
  releaseSpinnerWord(word, 7);
  assert.equal(Atomics.load(view, 0), 0);
});
