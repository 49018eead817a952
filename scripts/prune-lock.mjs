#!/usr/bin/env node
// Removes, from package-lock.json, optional dependencies that the lockfile has no entry for.
//
// Why: npm skips an optional dependency whose version the registry cannot serve (here: some other-platform
// binaries of rolldown, componentize-qjs and jco-node-fs are missing from the mirror this project installs
// from), yet `npm ci` then refuses the very lockfile `npm install` wrote ("Missing: ... from lock file").
// Dropping the dangling optional edges makes the lockfile consistent; nothing this platform installs changes.
// Run after `npm install` changes the lockfile.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const present = new Set(Object.keys(lock.packages));
let removed = 0;
for (const [path, entry] of Object.entries(lock.packages)) {
  if (!entry.optionalDependencies) continue;
  for (const dep of Object.keys(entry.optionalDependencies)) {
    // npm resolves a dependency from the nearest node_modules up the path.
    const parts = path
      ? path
          .split('node_modules/')
          .filter(Boolean)
          .map((p) => p.replace(/\/$/, ''))
      : [];
    let found = false;
    for (let i = parts.length; i >= 0 && !found; i--) {
      const prefix = parts
        .slice(0, i)
        .map((p) => `node_modules/${p}/`)
        .join('');
      found = present.has(`${prefix}node_modules/${dep}`);
    }
    if (!found) {
      delete entry.optionalDependencies[dep];
      removed++;
    }
  }
  if (Object.keys(entry.optionalDependencies).length === 0) delete entry.optionalDependencies;
}
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`prune-lock: removed ${removed} optional dependencies with no lockfile entry`);
