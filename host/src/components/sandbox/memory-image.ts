/**
 * A linear memory as it was at one moment (a workload instance right after initialisation), and how to put it
 * back after a request changed it (`workload-instance.ts`).
 *
 * A request writes to a small part of the memory (measured on the test workloads: 30 of the 368 4 KiB pages of
 * a QuickJS guest's 1.5 MB, 146 of the 2,320 of a StarlingMonkey guest's 9.5 MB), but nothing tells which, so
 * a restore compares every chunk of `IMAGE_CHUNK` bytes and copies back only the chunks that differ. Reading
 * is what it costs. Most of a fresh guest's memory is zeros (its heap's unused reserve: 15 of 23 chunks of the
 * QuickJS guest, 77 of 145 of the StarlingMonkey one), and a zero chunk is not kept: it is compared with one
 * shared zero chunk, which stays in the CPU cache, so only the live memory is read from RAM there. Against
 * 16 KiB chunks all kept, this halved a StarlingMonkey guest's restore (`bench/RESULTS.md`, 2026-12-02).
 */

/** Bytes compared (and copied back if they differ) at a time: one Wasm page. Fewer, larger compares cost
 *  less than many small ones (each is a call into Node), at the price of copying a whole page for one changed byte. */
export const IMAGE_CHUNK = 64 * 1024;

const ZERO = Buffer.alloc(IMAGE_CHUNK);

/** A snapshot of one linear memory's bytes. */
export class MemoryImage {
  /** Per chunk: its bytes, or undefined for a chunk of zeros. */
  readonly #chunks: ReadonlyArray<Buffer | undefined>;
  /** The memory's size when taken (a restore needs the same size). */
  readonly length: number;

  private constructor(chunks: ReadonlyArray<Buffer | undefined>, length: number) {
    this.#chunks = chunks;
    this.length = length;
  }

  /** Copies `bytes` (a memory's whole buffer), keeping the chunks that are not all zeros. */
  static of(bytes: Uint8Array): MemoryImage {
    const live = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const chunks: Array<Buffer | undefined> = [];
    for (let at = 0; at < live.length; at += IMAGE_CHUNK) {
      const end = Math.min(live.length, at + IMAGE_CHUNK);
      chunks.push(ZERO.compare(live, at, end, 0, end - at) === 0 ? undefined : Buffer.from(live.subarray(at, end)));
    }
    return new MemoryImage(chunks, live.length);
  }

  /** Bytes held (the chunks that are not zeros). */
  get storedBytes(): number {
    let n = 0;
    for (const c of this.#chunks) n += c?.length ?? 0;
    return n;
  }

  /** Makes `live` (of the image's `length`) equal the image, writing only the chunks that differ. */
  restore(live: Buffer): void {
    if (live.length !== this.length) throw new RangeError(`memory image of ${this.length} bytes cannot restore a memory of ${live.length}`);
    const chunks = this.#chunks;
    for (let i = 0, at = 0; i < chunks.length; i++, at += IMAGE_CHUNK) {
      const end = Math.min(this.length, at + IMAGE_CHUNK);
      const chunk = chunks[i];
      if (chunk === undefined) {
        if (ZERO.compare(live, at, end, 0, end - at) !== 0) live.fill(0, at, end);
      } else if (chunk.compare(live, at, end) !== 0) chunk.copy(live, at);
    }
  }
}
