// Headless Debian Chromium through playwright-core, for the browser tests (the Godot web
// runtime and the web console). The npm packages come from AETHEX_WEB_TOOLS (installed by
// scripts/test-all.sh from tests/godot/package-lock.json).
import { createRequire } from 'node:module';
import { join } from 'node:path';

export const tools = process.env.AETHEX_WEB_TOOLS || join(process.env.HOME, '.cache/aethex-tools/npm-web');
const { chromium } = createRequire(join(tools, 'package.json'))('playwright-core');

// Flags that keep Chromium off the network it cannot reach here, plus `extra`.
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.AETHEX_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic', ...extra],
  });
}
