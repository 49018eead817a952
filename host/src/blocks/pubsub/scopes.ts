/**
 * Topic scoping from pub/sub component metadata (Dapr `pkg/runtime/pubsub/scopes.go`):
 * `allowedTopics: a,b` limits every app to those topics; `publishingScopes: app1=t1,t2;app2=` and
 * `subscriptionScopes` limit listed apps to their topics (an empty list: none); `protectedTopics` are
 * allowed only to apps that list them in the scopes.
 */
function list(v: string | undefined): string[] | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function scoped(spec: string | undefined, appId: string): string[] | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  for (const part of spec.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === appId)
      return part
        .slice(eq + 1)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  }
  return undefined;
}

/** Whether `appId` may publish to (`publishing`) or subscribe to `topic` on a component with `metadata`. */
export function topicAllowed(metadata: Readonly<Record<string, string>>, appId: string, topic: string, publishing: boolean): boolean {
  const allowed = list(metadata.allowedTopics);
  const scopes = scoped(publishing ? metadata.publishingScopes : metadata.subscriptionScopes, appId);
  const protectedTopics = list(metadata.protectedTopics);
  if (scopes !== undefined) return scopes.includes(topic) && (allowed === undefined || allowed.includes(topic) || scopes.includes(topic));
  if (protectedTopics?.includes(topic)) return false;
  return allowed === undefined || allowed.includes(topic);
}
