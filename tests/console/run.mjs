// End-to-end test of the web console in headless Chromium (playwright-core, Debian's
// /usr/bin/chromium): signs in as a developer, clicks through every page and checks the
// real data the Rust test (tests/e2e/console.rs) put into origin, takes a screenshot of
// each page, and prints "N passed, M failed". Environment: AETHEX_CONSOLE_EXPECT (JSON:
// url, email, password, game, ... see console.rs), AETHEX_WEB_TOOLS, AETHEX_CONSOLE_SHOTS.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { launch } from '../web/chromium.mjs';

const x = JSON.parse(process.env.AETHEX_CONSOLE_EXPECT || '{}');
const shots = process.env.AETHEX_CONSOLE_SHOTS || 'console-screenshots';
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) { passed += 1; console.log(`PASS ${name}`); } else { failed += 1; console.log(`FAIL ${name} ${detail}`); }
}

const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
// Answers with an error status are judged by the checks; only script errors count here.
page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
page.on('dialog', (d) => d.accept());
let shot = 0;
const snap = async (name) => { shot += 1; await page.screenshot({ path: join(shots, `${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true }); };
const tid = (id) => page.getByTestId(id);
const textOf = async (id) => { try { await tid(id).first().waitFor({ timeout: 10000 }); return await tid(id).first().innerText(); } catch (e) { return `(no ${id}: ${e.message.split('\n')[0]})`; } };
// The text of `id` once `ok(text)` holds (the page updates after its request answers),
// or its last text after `ms`.
const textWhen = async (id, ok, ms = 5000) => {
  const until = Date.now() + ms;
  let text = await textOf(id);
  while (!ok(text) && Date.now() < until) {
    await page.waitForTimeout(100);
    text = await textOf(id);
  }
  return text;
};
const step = async (name, f) => { try { await f(); } catch (e) { check(name, false, e.message.split('\n')[0]); } };

await step('sign in', async () => {
  await page.goto(`${x.url}/console`);
  await tid('login').waitFor();
  await snap('login');
  await tid('email').fill(x.email);
  await tid('password').fill('not-the-password');
  await tid('sign-in').click();
  check('a wrong password is refused', (await textOf('login-error')).length > 0);
  await tid('password').fill(x.password);
  await tid('sign-in').click();
  await tid('nav-games').waitFor();
  check('signed in', (await textOf('who')).length > 0);
});

await step('games', async () => {
  await tid('nav-games').click();
  const games = await textOf('games');
  check('games list the game and its client key', games.includes(x.game) && games.includes('aethex_ck_'), games);
  await tid('new-server-key').click();
  check('a server key is made', (await textOf('new-server-key-result')).includes('aethex_sk_'));
  check('members list the developer', (await textOf('members')).length > 0);
  await snap('games');
});

await step('players', async () => {
  await tid('nav-players').click();
  await tid('player-search').fill(x.player_username);
  await tid('player-search-go').click();
  await page.waitForTimeout(300);
  const list = await textOf('players');
  check('player search finds the player', list.includes(x.player_username), list);
  await tid('player-link').first().click();
  const saves = await textOf('player-saves');
  check('the player\'s saves', saves.includes(x.slot) && /slot1\s+1\s/.test(saves), saves);
  await tid('export').click();
  check('GDPR export shows the player\'s data', (await textOf('export-json')).includes(x.player_username));
  await snap('player');
  await tid('ban').click();
  await page.waitForTimeout(300);
  check('ban', (await textOf('players')).includes('banned'));
});

await step('leaderboards', async () => {
  await tid('nav-leaderboards').click();
  check('boards listed', (await textOf('boards')).includes(x.board));
  await tid('board-link').first().click();
  const entries = await textOf('board-entries');
  check('board entries ranked', entries.includes(x.top_username) && entries.includes(String(x.top_score)), entries);
  await snap('leaderboards');
});

await step('achievements', async () => {
  await tid('nav-achievements').click();
  check('achievement definitions', (await textOf('achievements')).includes(x.achievement));
  check('player statistics', (await textOf('stats')).includes(x.stat));
  await snap('achievements');
});

await step('dlc', async () => {
  await tid('nav-dlc').click();
  const releases = await textOf('releases');
  check('releases listed', releases.includes(x.release) && releases.includes(x.old_release), releases);
  check('channel serves the newest release', (await textOf('channels')).includes(x.release));
  await tid('rollback-stable').click();
  const rolled = await textWhen('channels', (t) => t.includes(x.old_release));
  check('rollback moves the channel back', rolled.includes(x.old_release), rolled);
  await tid('promote-channel').fill('beta');
  await tid(`promote-${x.release}`).click();
  const channels = await textWhen('channels', (t) => /beta\s+1\.1\.0/.test(t));
  check('promote puts the release on another channel', /beta\s+1\.1\.0/.test(channels), channels);
  await snap('dlc');
});

await step('regions', async () => {
  await tid('nav-regions').click();
  check('live regions', (await textOf('regions')).includes(x.region));
  check('live rooms of the game', (await textOf('rooms')).includes(x.room_code), await textOf('rooms'));
  await snap('regions');
});

await step('analytics', async () => {
  await tid('nav-analytics').click();
  const dau = Number((await textOf('dau')).replace(/\D+/g, ''));
  check('DAU', dau >= x.active_players, `dau ${dau}`);
  check('events chart drawn', await page.locator('[data-testid="chart-events"] canvas').count() > 0);
  check('active players chart drawn', await page.locator('[data-testid="chart-active"] canvas').count() > 0);
  check('events by type', (await textOf('event-types')).includes(x.event_type));
  check('retention', (await textOf('retention')).includes('day 1') && (await textOf('cohort')).includes(`${x.active_players} new players`), await textOf('cohort'));
  await tid('funnel-steps').fill(x.funnel.join(','));
  await tid('funnel-go').click();
  await page.waitForTimeout(300);
  check('funnel', (await textOf('funnel')).includes(x.funnel[1]));
  check('crash groups', (await textOf('crashes')).includes(x.crash_title), await textOf('crashes'));
  check('A/B results', (await textOf('experiment-results')).includes(x.variant));
  await snap('analytics');
});

await step('erase', async () => {
  await tid('nav-players').click();
  await tid('player-search').fill(x.top_username);
  await tid('player-search-go').click();
  await page.waitForTimeout(300);
  await tid('player-link').first().click();
  await tid('erase').click();
  check('erasing a player\'s data in the game gives a receipt', (await textOf('erase-result')).includes('receipt'), await textOf('erase-result'));
});

await step('audit', async () => {
  await tid('nav-audit').click();
  const audit = await textOf('audit');
  check('audit log records the ban, the rollback, the promotion, the erasure and the new key', ['/ban', '/rollback', '/promote', '/server-keys', 'DELETE /api/v1/games/'].every((t) => audit.includes(t)), audit);
  await snap('audit');
});

check('no script errors in the page', errors.length === 0, errors.join(' | '));
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
