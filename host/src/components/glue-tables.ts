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
 * only adds to and never reads (it grew by every resource of every request). A glue in which a table
 * looks different (not every handle table registered in `HANDLE_TABLES` and every capture table with its
 * counter is one of the expected shape) pushes none: its instances are then instantiated anew more often.
 */
export function glueTables(js: string): string {
  const push = (name: string) => ` if (Array.isArray(imports?.${GLUE_TABLES_KEY})) imports.${GLUE_TABLES_KEY}.push(${name});`;
  const handleTables = /(const (handleTable\d+) = \[T_FLAG, 0\];)/g;
  const captureTables = /(const (captureTable\d+)= new Map\(\);)/g;
  // Every table or none: a table of another shape, never restored, would carry a request's resources over.
  const count = (re: RegExp) => js.match(re)?.length ?? 0;
  const handles = count(handleTables);
  const every = handles > 0 && handles === count(/HANDLE_TABLES\[\d+\] = /g) && count(captureTables) === count(/let captureCnt\d+= 0;/g);
  let out = every
    ? js
        .replace(handleTables, (_, decl: string, name: string) => decl + push(name))
        .replace(captureTables, (_, decl: string, name: string) => decl + push(name))
    : js;
  // Only where nothing but the add and the creation name it.
  const uses = count(/_createdReps/g);
  const adds = count(/table\._createdReps\.add\(rep\);/g);
  const creations = count(/\._createdReps = new Set\(\);/g);
  if (uses === adds + creations) out = out.replaceAll('table._createdReps.add(rep);', '');
  return out;
}
