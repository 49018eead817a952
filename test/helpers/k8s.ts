/**
 * Reads the Kubernetes manifests under `deploy/` and validates each object against the Kubernetes API
 * schemas: the built-in kinds with `kubernetes-models` (the API's OpenAPI definitions compiled to validators),
 * SpinKube's `SpinApp` with mortar's JSON Schema of its CRD (`test/fixtures/spinkube/`), whose embedded
 * Kubernetes types are checked with `kubernetes-models` too.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
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
