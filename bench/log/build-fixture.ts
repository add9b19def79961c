/** Builds (or confirms) the 10M-entry log fixture: npx tsx bench/log/build-fixture.ts [count] */
import { ensureLogFixture } from './fixture.js';

const count = Number(process.argv[2] ?? 10_000_000);
console.log(await ensureLogFixture(count));
