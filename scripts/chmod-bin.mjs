// Makes the built CLI executable, so `npx safetynet` and a global install run it directly.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/cli/main.js', import.meta.url), 0o755);
