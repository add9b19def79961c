// Empties dist/ before a build: tsc never deletes the output of a source file that was moved or
// removed, and a stale compiled module could still be imported by a path nobody maintains.
import { rmSync } from 'node:fs';
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
