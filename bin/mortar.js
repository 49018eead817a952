#!/usr/bin/env node
// QuickJS components on Node 20 need extended-const in every isolate; worker threads inherit execArgv,
// so re-exec once with the flag when it is missing (Node >= 22 has it on by default).
import { spawn } from 'node:child_process';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22 && !process.execArgv.includes('--experimental-wasm-extended-const')) {
  const child = spawn(process.execPath, ['--experimental-wasm-extended-const', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
} else {
  const { main } = await import('../dist/host/src/main.js');
  await main(process.argv.slice(2));
}
