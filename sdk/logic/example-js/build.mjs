// Builds logic.js into a component: node build.mjs TOOLS_DIR OUT.wasm, where TOOLS_DIR
// holds node_modules/@bytecodealliance/componentize-js (scripts/install-tools.sh installs it
// from tests/logic-tools; scripts/build-logic.sh runs this).
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [tools, out] = process.argv.slice(2);
if (!tools || !out) throw new Error('usage: node build.mjs TOOLS_DIR OUT.wasm');
const entry = join(tools, 'node_modules/@bytecodealliance/componentize-js/src/componentize.js');
const { componentize } = await import(pathToFileURL(entry).href);
const { component } = await componentize({
  sourcePath: join(here, 'logic.js'),
  witPath: join(here, '../../../protocol/wit'),
  worldName: 'game-logic',
  // No HTTP: the world has none, and a game's logic has no network.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
