/**
 * Spin's identifier rules (`spin_serde::id::Id`, Spin 3.6): component ids are kebab-case, variable names
 * lower snake_case, key-value labels either. Each check answers the reason in Spin's own words, or
 * `undefined` when the id is valid.
 */

/**
 * Spin's `Id<DELIM, LOWER>`: one or more words separated by `delim`; each word starts with an ASCII letter,
 * holds only ASCII letters and digits, and is all lowercase or all UPPERCASE (only lowercase when `lower`).
 */
export function idProblem(id: string, delim: '-' | '_', lower: boolean): string | undefined {
  if (id === '') return 'empty';
  const wrong = delim === '-' ? '_' : '-';
  if (id.includes(wrong)) return `words must be separated with '${delim}', not '${wrong}'`;
  for (const word of id.split(delim)) {
    if (word === '') return `'${delim}'-separated words must not be empty`;
    const first = word[0]!;
    if (!/^[A-Za-z]$/.test(first)) return `'${delim}'-separated words must start with an ASCII letter; got '${first}'`;
    const upper = /^[A-Z]$/.test(first);
    for (const ch of word.slice(1)) {
      if (/^[0-9]$/.test(ch)) continue;
      if (!/^[A-Za-z]$/.test(ch)) return `'${delim}'-separated words may only contain alphanumeric ASCII; got '${ch}'`;
      if (/^[A-Z]$/.test(ch) !== upper) return `'${delim}'-separated words must be all lowercase or all UPPERCASE; got "${word}"`;
    }
    if (lower && upper) return `Lower-case identifiers must be all lowercase; got "${id}"`;
  }
  return undefined;
}

/** A component id (`[component.<id>]`, a trigger's `component = "<id>"`): Spin's `KebabId`. */
export const kebabIdProblem = (id: string) => idProblem(id, '-', false);

/** A key-value store label: kebab-case or snake_case (Spin's `kebab_or_snake_case`). */
export function labelProblem(label: string): string | undefined {
  return idProblem(label, '-', false) === undefined || idProblem(label, '_', false) === undefined ? undefined : 'expected kebab-case or snake_case';
}

/**
 * A variable name (`[variables]` keys, component `variables` keys and `{{ name }}` references): Spin's
 * `LowerSnakeId` for manifest keys, then `spin_expressions::Key::validate`, which the resolver applies to every name.
 */
export function variableNameProblem(name: string): string | undefined {
  const id = idProblem(name, '_', true);
  if (id) return id;
  if (name === '') return 'must not be empty';
  const bad = [...name].find((c) => !/^[a-z0-9_]$/.test(c));
  if (bad) return `invalid character '${bad}'. Variable names may contain only lower-case letters, numbers, and underscores.`;
  if (!/^[a-z]/.test(name)) return 'must start with a lowercase ASCII letter';
  if (!/[a-z0-9]$/.test(name)) return 'must end with a lowercase ASCII letter or digit';
  if (name.includes('__')) return 'must not contain multiple consecutive underscores';
  return undefined;
}

/**
 * The workload's app id is the manifest's `application.name`, checked as daprd checks a self-hosted app id
 * (`ValidateSelfHostedAppID`: not empty, no dots). mortar also refuses `||`, the separator of Dapr's state key
 * prefix (`<app-id>||<key>`), so the workload's keys stay readable by an HTTP app with the same id.
 */
export function appIdProblem(id: string): string | undefined {
  if (id === '') return 'the app id cannot be empty';
  if (id.includes('.')) return 'the app id cannot contain dots (as daprd: an app id is a DNS label in service invocation)';
  if (id.includes('||')) return "the app id cannot contain '||' (the separator of Dapr's state key prefix)";
  return undefined;
}
