/**
 * The JS heap of a sandbox worker (component and workload workers alike), as `new Worker`'s `resourceLimits`.
 *
 * The glue's heap is small; Wasm memory is capped separately (`wasm-memory-limit.ts`). The young generation is
 * set, not left to Node: Node 24 sizes a worker's young generation at 192 MB by default (Node 20: 48 MB), more
 * than the old generation's 128 MB. A worker that allocates fast (a store's worker under load: every call's
 * arguments and answers) grows its young generation past that, V8 then counts the heap as full and runs a full
 * mark-compact every 10-15 ms on a 10 MB heap: `mortar up`'s workload throughput fell from 1,700 to 260-330
 * req/s after about 10 s under load (`bench/RESULTS.md`, 2026-12-03). 48 MB is Node 20's figure, under which
 * the sandbox's hand-offs were tuned (a larger young generation measured worse then).
 */
export const WORKER_HEAP = { maxOldGenerationSizeMb: 128, maxYoungGenerationSizeMb: 48 } as const;
