/**
 * Bounds on what a resources folder and a component's schema may cost the sidecar. Each is a rule in one
 * place: a file or a component over a bound is refused with one log line naming the file (and the field),
 * and the last good version keeps serving.
 */

/**
 * Largest resource YAML file read, in bytes (256 KiB). A Dapr resource is a few kilobytes; a 10 MB file
 * took seconds to parse and hundreds of MB to hold, so a larger file is refused by its size before it is
 * read or parsed. (Parsing runs on a thread of its own, never on the API thread.)
 */
export const MAX_RESOURCE_FILE_BYTES = 256 * 1024;

/**
 * Most YAML aliases (`*name`) one document may resolve, counted as the `yaml` package counts them
 * (`maxAliasCount`: each alias weighs the nodes it expands to). Bounds "billion laughs" documents, whose
 * aliases expand exponentially; Dapr resources rarely use aliases at all.
 */
export const MAX_YAML_ALIASES = 100;

/**
 * How long checking one component's metadata against the JSON Schema it declares may take, in ms (1 s).
 * The schema is the component's own: a `pattern` such as `^(a+)+$` backtracks exponentially, so the check
 * runs on a worker thread that is terminated when this runs out, and the component is refused. The API
 * thread never runs it. A real schema checks in well under a millisecond.
 */
export const METADATA_VALIDATION_TIMEOUT_MS = 1000;
