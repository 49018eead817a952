import { deserialize, serialize } from 'node:v8';

/**
 * A message slot in shared memory between two threads: two Int32 words (a state or sequence word, and the
 * payload length) followed by a v8-serialised payload. Used for bridge replies (capability thread -> sandbox
 * worker).
 */
export interface SharedArea {
  /** Word 0: state or sequence number; word 1: payload length (-1: the payload went by message instead). */
  readonly words: Int32Array;
  readonly bytes: Uint8Array;
}

const HEADER_BYTES = 8;
const PAYLOAD_BYTES = 256 * 1024;

export function createAreaBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + PAYLOAD_BYTES);
}

export function areaOf(buffer: SharedArrayBuffer): SharedArea {
  return { words: new Int32Array(buffer, 0, 2), bytes: new Uint8Array(buffer, HEADER_BYTES) };
}

/** Serialises `value` into the area and sets word 1 to its length; false (and nothing written) if it does not fit. */
export function writeArea(area: SharedArea, value: unknown): boolean {
  const data = serialize(value);
  if (data.length > area.bytes.length) return false;
  area.bytes.set(data);
  Atomics.store(area.words, 1, data.length);
  return true;
}

/** Reads the payload written by `writeArea`. Copies it out first: deserialised typed arrays may alias
 *  their input, and the area is reused by the next message. */
export function readArea(area: SharedArea): unknown {
  return deserialize(Buffer.from(area.bytes.subarray(0, Atomics.load(area.words, 1))));
}
