/**
 * The known component type closest to a mistyped one, so a refusal can say what was probably meant
 * (`state.postgre` -> `state.postgres`, `pubsub.mqtt5` -> `pubsub.mqtt3`).
 */

/** Levenshtein distance: the fewest single-character insertions, deletions or substitutions from `a` to `b`. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The longest type a suggestion is looked for: the edit distance takes time in proportion to the product of
 * the lengths, and no real type comes near (the longest are about 30 characters). A longer `spec.type` gets
 * no suggestion and is shown cut to this length.
 */
export const MAX_SUGGESTED_TYPE_CHARS = 64;

/**
 * The entry of `known` at the least edit distance from `type` (compared case-insensitively); on a tie, one
 * of the same building block (`state.`, `pubsub.`), then the first alphabetically. Undefined when `known` is
 * empty or `type` is longer than {@link MAX_SUGGESTED_TYPE_CHARS}.
 */
export function closestType(type: string, known: readonly string[]): string | undefined {
  if (type.length > MAX_SUGGESTED_TYPE_CHARS) return undefined;
  const t = type.toLowerCase();
  const block = t.slice(0, t.indexOf('.') + 1);
  let best: { type: string; score: [number, number, string] } | undefined;
  for (const k of known) {
    const score: [number, number, string] = [editDistance(t, k.toLowerCase()), k.toLowerCase().startsWith(block) ? 0 : 1, k];
    if (!best || score[0] < best.score[0] || (score[0] === best.score[0] && (score[1] < best.score[1] || (score[1] === best.score[1] && k < best.type)))) {
      best = { type: k, score };
    }
  }
  return best?.type;
}

/**
 * The parts of an unknown-type refusal: the type as shown (cut to {@link MAX_SUGGESTED_TYPE_CHARS} characters
 * and `...`) and the suggestion (`'state.redis'`, `none`, or why there is none for a type that long).
 */
export function unknownTypeParts(type: string, known: readonly string[]): { shown: string; closest: string } {
  if (type.length > MAX_SUGGESTED_TYPE_CHARS) {
    return {
      shown: `${type.slice(0, MAX_SUGGESTED_TYPE_CHARS)}...`,
      closest: `none, the type is too long (${type.length} characters, more than ${MAX_SUGGESTED_TYPE_CHARS})`,
    };
  }
  const closest = closestType(type, known);
  return { shown: type, closest: closest ? `'${closest}'` : 'none' };
}
