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
 * The entry of `known` at the least edit distance from `type` (compared case-insensitively); on a tie, one
 * of the same building block (`state.`, `pubsub.`), then the first alphabetically. Undefined when `known` is empty.
 */
export function closestType(type: string, known: readonly string[]): string | undefined {
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
