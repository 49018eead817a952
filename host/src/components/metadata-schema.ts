import { Ajv, type ValidateFunction, type ErrorObject } from 'ajv';

/**
 * Validates component metadata against the JSON Schema the component declares in `describe()`.
 *
 * Values arrive as strings (Dapr passes metadata as strings); ajv coerces them where the schema asks for
 * numbers or booleans, fills in declared defaults, and the result goes back to the component as strings.
 *
 * The schema is the component's, so a check can take unbounded time (a backtracking `pattern`): the
 * runtime runs this class on the worker thread of `CheckThread`, never on the API thread, except for the
 * built-in components, whose schemas are mortar's own.
 */
export class MetadataValidator {
  readonly #ajv: Ajv;
  readonly #compiled = new Map<string, ValidateFunction>();

  /** `onPattern` is told each value just before a schema `pattern` is tested on it (to name a field that hangs). */
  constructor(onPattern?: (value: string) => void) {
    this.#ajv = new Ajv({
      allErrors: true,
      coerceTypes: true,
      useDefaults: true,
      strict: false,
      code: onPattern ? { regExp: observedRegExp(onPattern) } : undefined,
    });
    for (const k of ['x-mortar-grant', 'x-sensitive', 'x-example']) this.#ajv.addKeyword(k);
  }

  /** Compiles (once per schema text) and validates. Throws `SchemaError` when the schema itself is invalid. */
  validate(schemaText: string, metadata: Readonly<Record<string, string>>): { ok: true; value: Record<string, string> } | { ok: false; problems: string[] } {
    let fn = this.#compiled.get(schemaText);
    if (!fn) {
      try {
        fn = this.#ajv.compile(JSON.parse(schemaText) as object);
      } catch (err) {
        throw new SchemaError((err as Error).message);
      }
      this.#compiled.set(schemaText, fn);
    }
    const value: Record<string, unknown> = { ...metadata };
    if (fn(value)) {
      return { ok: true, value: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])) };
    }
    return { ok: false, problems: (fn.errors ?? []).map(describe) };
  }
}

export class SchemaError extends Error {}

/** ajv's regular-expression engine, telling `onPattern` each value before testing it. */
function observedRegExp(onPattern: (value: string) => void) {
  const engine = (pattern: string, u: string) => {
    const re = new RegExp(pattern, u);
    // ajv keys compiled patterns by their text: give it the pattern's, not "[object Object]".
    return {
      test: (value: string) => {
        onPattern(value);
        return re.test(value);
      },
      toString: () => re.toString(),
    };
  };
  return Object.assign(engine, { code: 'observedRegExp' });
}

function describe(e: ErrorObject): string {
  const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
  if (e.keyword === 'required') return `field '${(e.params as { missingProperty: string }).missingProperty}' is required`;
  if (e.keyword === 'additionalProperties') return `field '${(e.params as { additionalProperty: string }).additionalProperty}' is not a known field`;
  if (e.keyword === 'enum') return `field '${field}' ${e.message}: ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `field '${field}' ${e.message ?? 'is invalid'}`;
}
