/**
 * Reads the repository's `Containerfile` into its stages and instructions, so tests can check the recipe
 * (what it copies, runs and sets) and run the sidecar the way its final stage does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './sidecar.js';

export const CONTAINERFILE = join(ROOT, 'Containerfile');

/** One instruction: its keyword (upper case), its arguments as written, and its line. */
export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

/** A `FROM` and what follows it up to the next `FROM`. */
export interface Stage {
  readonly from: string;
  readonly name?: string;
  readonly instructions: readonly Instruction[];
}

export interface ParsedContainerfile {
  /** `ARG`s before the first `FROM`, with their defaults. */
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

/** Parses a Containerfile: comments dropped, `\` continuations joined, instructions grouped by stage. */
export function parseContainerfile(text: string = readFileSync(CONTAINERFILE, 'utf8')): ParsedContainerfile {
  const globalArgs = new Map<string, string>();
  const stages: { from: string; name?: string; instructions: Instruction[] }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i++;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      line = `${line.replace(/\\\s*$/, '')} ${next.trim()}`;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/s.exec(line);
    if (!m) throw new Error(`Containerfile:${start + 1}: not an instruction: ${line}`);
    const keyword = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (keyword === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`Containerfile:${start + 1}: FROM ${args}`);
      stages.push({ from: f[1]!, name: f[2], instructions: [] });
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`Containerfile:${start + 1}: ${keyword} before the first FROM`);
      const [name, value = ''] = args.split('=', 2);
      globalArgs.set(name!, value);
    } else {
      stages.at(-1)!.instructions.push({ keyword, args, line: start + 1 });
    }
  }
  return { globalArgs, stages };
}

/** The instructions of `stage` with `keyword`. */
export function instructions(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** A `COPY`: its flags (`--from=build`), its sources and its destination. */
export interface Copy {
  readonly from?: string;
  readonly sources: readonly string[];
  readonly dest: string;
}

export function parseCopy(args: string): Copy {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    const m = /^--from=(.+)$/.exec(flag);
    if (m) from = m[1];
  }
  if (words.length < 2) throw new Error(`COPY ${args}: needs a source and a destination`);
  return { from, sources: words.slice(0, -1), dest: words.at(-1)! };
}

/** The arguments of an exec-form instruction (`ENTRYPOINT ["mortar"]`). */
export function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new Error(`not an exec-form list: ${args}`);
  return parsed;
}

/** `ENV A=1 B=2` (continuations already joined) as pairs. */
export function parseEnv(args: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) out.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
  return out;
}
