/**
 * How a workload instance gets back the resource tables of jco's glue (`sandbox/workload-instance.ts` resets
 * them with the instance's memory): the text patch applied to the glue before it is cached (`glueTables`,
 * part of `patchGlue` in `transpile-cache.ts`) and the key it hands them over under. No imports: the
 * workload worker loads this.
 */
/** The key of `instantiate`'s `imports` under which the patched glue pushes its resource tables (`glueTables`). */
export const GLUE_TABLES_KEY = '__mortarGlueTables';

/**
 * What jco's glue keeps of an instance in JavaScript are its resource tables: per resource type a handle table
 * (an array of scope/rep pairs with a free list) and, for a resource the host provides, a capture table (a
 * `Map` from rep to the host's object). A workload instance reset to its post-initialisation memory
 * (`sandbox/workload-instance.ts`) must get these back as they were then too: a guest that has not dropped
 * what a request gave it (StarlingMonkey keeps three host resources per request) leaves entries behind, which
 * would grow without end and keep the host's objects, and which the next request could reach by their
 * handle numbers. So every table the instantiation creates is pushed onto `imports[GLUE_TABLES_KEY]` when
 * that is an array; the instantiating side snapshots and restores them.
 * Also removed: each handle table's `_createdReps`, a `Set` of every rep the table ever held that jco 1.35
 * only adds to and never reads (it grew by every resource of every request). A glue whose tables look
 * different is left as it is, and pushes nothing.
 */
export function glueTables(js: string): string {
  const push = (name: string) => ` if (Array.isArray(imports.${GLUE_TABLES_KEY})) imports.${GLUE_TABLES_KEY}.push(${name});`;
  let out = js
    .replace(/(const (handleTable\d+) = \[T_FLAG, 0\];)/g, (_, decl: string, name: string) => decl + push(name))
    .replace(/(const (captureTable\d+)= new Map\(\);)/g, (_, decl: string, name: string) => decl + push(name));
  // Only where nothing but the add and the creation name it.
  const uses = out.match(/_createdReps/g)?.length ?? 0;
  const adds = out.match(/table\._createdReps\.add\(rep\);/g)?.length ?? 0;
  const creations = out.match(/\._createdReps = new Set\(\);/g)?.length ?? 0;
  if (uses === adds + creations) out = out.replaceAll('table._createdReps.add(rep);', '');
  return out;
}
