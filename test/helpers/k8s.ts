/**
 * Reads the Kubernetes manifests under `deploy/` and validates each object against the Kubernetes API
 * schemas: the built-in kinds with `kubernetes-models` (the API's OpenAPI definitions compiled to validators),
 * SpinKube's `SpinApp` with mortar's JSON Schema of its CRD (`test/fixtures/spinkube/`), whose embedded
 * Kubernetes types are checked with `kubernetes-models` too. Those schemas accept fields the API does not
 * define (the API server drops them; kubectl's strict validation refuses them): `unknownFields` finds them by
 * type-checking each built-in object against its `kubernetes-models` interface.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { EnvVarSource } from 'kubernetes-models/v1/EnvVarSource';
import { LocalObjectReference } from 'kubernetes-models/v1/LocalObjectReference';
import { Service } from 'kubernetes-models/v1/Service';
import { Volume } from 'kubernetes-models/v1/Volume';
import { VolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { ROOT } from './sidecar.js';

export const DEPLOY_DIR = join(ROOT, 'deploy');

/** One object of a manifest file: where it is and what it says. */
export interface Manifest {
  /** The file, relative to the repository root. */
  readonly file: string;
  /** The document's index in its file (0 for a one-document file). */
  readonly index: number;
  readonly object: Record<string, unknown>;
}

/** A model class of `kubernetes-models`: built from plain data, `validate()` throws naming what is wrong. */
type ModelClass = new (data: never) => { validate(): void };

/** The kinds deploy/ may use, by `apiVersion/kind`; an object of any other kind fails the validation. */
const MODELS: Readonly<Record<string, ModelClass>> = {
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as ModelClass,
};

/**
 * The TypeScript interface `kubernetes-models` declares for each kind of MODELS (module, name): its
 * properties are exactly the API's, so an object literal typed with it refuses a field the API lacks.
 */
const MODEL_TYPES: Readonly<Record<string, readonly [string, string]>> = {
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
};

/** The Kubernetes types a CRD schema may embed, by the name its `x-k8s-model` keyword gives. */
const EMBEDDED: Readonly<Record<string, ModelClass>> = {
  ObjectMeta: ObjectMeta as unknown as ModelClass,
  Volume: Volume as unknown as ModelClass,
  VolumeMount: VolumeMount as unknown as ModelClass,
  LocalObjectReference: LocalObjectReference as unknown as ModelClass,
  EnvVarSource: EnvVarSource as unknown as ModelClass,
};

/** Custom resources and the file of the JSON Schema each is validated against. */
const CUSTOM: Readonly<Record<string, string>> = {
  'core.spinkube.dev/v1alpha1/SpinApp': join(ROOT, 'test/fixtures/spinkube/spinapp-v1alpha1.schema.json'),
};

/** Every `.yaml` file under `dir`, recursively, sorted. */
export function yamlFiles(dir: string = DEPLOY_DIR): string[] {
  return readdirSync(dir)
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(n) ? [p] : [];
    })
    .sort();
}

/** The objects of every manifest under deploy/ (a kustomization file is not a Kubernetes object: left out). */
export function readManifests(dir: string = DEPLOY_DIR): Manifest[] {
  return yamlFiles(dir)
    .filter((f) => !/(^|\/)kustomization\.ya?ml$/.test(f))
    .flatMap((file) => {
      const docs = parseAllDocuments(readFileSync(file, 'utf8'));
      return docs.map((doc, index) => {
        if (doc.errors.length > 0) throw new Error(`${relative(ROOT, file)}: document ${index}: ${doc.errors[0]!.message}`);
        return { file: relative(ROOT, file), index, object: doc.toJS() as Record<string, unknown> };
      });
    });
}

let customValidators: Map<string, (o: unknown) => string[]> | undefined;

function modelErrors(model: ModelClass, data: unknown): string[] {
  try {
    new model(data as never).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

function customValidator(key: string): ((o: unknown) => string[]) | undefined {
  if (!customValidators) {
    const made = new Map<string, (o: unknown) => string[]>();
    const ajv = new Ajv({ allErrors: true, strict: true });
    // `x-k8s-model: Volume`: the value is a Kubernetes type; kubernetes-models validates it.
    ajv.addKeyword({
      keyword: 'x-k8s-model',
      schemaType: 'string',
      validate: function check(name: string, data: unknown, _schema?: unknown, ctx?: { instancePath: string }) {
        const model = EMBEDDED[name];
        if (!model) throw new Error(`x-k8s-model: no model named ${name}`);
        const errors = modelErrors(model, data);
        (check as unknown as { errors: Partial<ErrorObject>[] }).errors = errors.map((message) => ({
          keyword: 'x-k8s-model',
          instancePath: ctx?.instancePath ?? '',
          message: `${name}: ${message}`,
        }));
        return errors.length === 0;
      },
      errors: true,
    });
    for (const [k, file] of Object.entries(CUSTOM)) {
      const validate = ajv.compile(JSON.parse(readFileSync(file, 'utf8')) as object);
      made.set(k, (o) => (validate(o) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`)));
    }
    customValidators = made;
  }
  return customValidators.get(key);
}

/**
 * What is wrong with `object` against the Kubernetes API schemas (empty: valid). A kind neither
 * `kubernetes-models` nor a CRD schema here knows is an error, so nothing in deploy/ goes unchecked.
 */
export function validateObject(object: Record<string, unknown>): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const model = MODELS[key];
  if (model) return modelErrors(model, object);
  const custom = customValidator(key);
  if (custom) return custom(object);
  return [`no schema for ${key}: add its model or CRD schema to test/helpers/k8s.ts`];
}

/**
 * The fields of built-in objects that the Kubernetes API does not define (kubectl's strict field validation
 * refuses them; the schemas kubernetes-models validates with allow them): each object is type-checked as an
 * object literal of its kind's interface, whose excess-property check names the field (and the closest
 * known one). One message per object at most, the first field found; empty: none.
 */
export function unknownFields(objects: readonly Record<string, unknown>[]): string[] {
  const key = (o: Record<string, unknown>) => `${o.apiVersion}/${o.kind}`;
  const untyped = objects.filter((o) => MODELS[key(o)] && !MODEL_TYPES[key(o)]).map((o) => `no interface for ${key(o)} in MODEL_TYPES`);
  const typed = objects.map((o) => [o, MODEL_TYPES[key(o)]] as const).filter(([, t]) => t !== undefined);
  if (typed.length === 0) return untyped;
  // Under the checkout (gitignored), so that `kubernetes-models` resolves from its node_modules.
  mkdirSync(join(ROOT, '.mortar-test'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, '.mortar-test', 'k8s-fields-'));
  try {
    const file = join(dir, 'objects.ts');
    const lines = typed.map(([, t], i) => `import type { ${t![1]} as T${i} } from '${t![0]}';`);
    const first = lines.length;
    lines.push(...typed.map(([o], i) => `export const o${i}: T${i} = ${JSON.stringify(o)};`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: [],
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    });
    const out: string[] = [...untyped];
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const text = ts.flattenDiagnosticMessageText(d.messageText, ' ');
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : -1;
      const o = typed[line - first]?.[0] as { kind?: string; metadata?: { name?: string } } | undefined;
      out.push(o ? `${o.kind} ${o.metadata?.name}: ${text}` : text);
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
