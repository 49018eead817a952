/**
 * Spin's string templates (`spin_expressions::Template`): literal text with `{{ name }}` expressions, used by
 * component `variables` and `allowed_outbound_hosts`. An expression is the trimmed text up to the next `}}`;
 * a `{{` with no `}}` after it is an error. There is no escape.
 */

/** One part of a template: literal text, or the name of an application variable. */
export type TemplatePart = { readonly lit: string } | { readonly expr: string };

/** A parsed template. */
export interface Template {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
}

/** Parses `text`; throws Spin's error (`invalid variable template: unmatched '{{' in template`). */
export function parseTemplate(text: string): Template {
  const parts: TemplatePart[] = [];
  let rest = text;
  while (rest !== '') {
    if (rest.startsWith('{{')) {
      const end = rest.indexOf('}}', 2);
      if (end < 0) throw new Error("invalid variable template: unmatched '{{' in template");
      parts.push({ expr: rest.slice(2, end).trim() });
      rest = rest.slice(end + 2);
    } else {
      const next = rest.indexOf('{{');
      parts.push({ lit: next < 0 ? rest : rest.slice(0, next) });
      rest = next < 0 ? '' : rest.slice(next);
    }
  }
  return { source: text, parts };
}

/** True when the template has no expression. */
export function isLiteral(t: Template): boolean {
  return t.parts.every((p) => 'lit' in p);
}

/** The variable names a template refers to, in order of appearance. */
export function templateNames(t: Template): string[] {
  return t.parts.flatMap((p) => ('expr' in p ? [p.expr] : []));
}

/** Fills in each expression with `value(name)`. */
export function renderTemplate(t: Template, value: (name: string) => string): string {
  return t.parts.map((p) => ('lit' in p ? p.lit : value(p.expr))).join('');
}
