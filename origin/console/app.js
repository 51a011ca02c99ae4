// The AeThex Cloud web console: a single page (Preact + htm, charts by uPlot) over the
// same REST API as everything else, with the signed-in developer's access token. Roles
// are the organization's: pages a role may not use answer with the API's own error.
import { h, render } from './vendor/preact.module.js';
import { useState, useEffect, useRef } from './vendor/hooks.module.js';
import htm from './vendor/htm.module.js';
import uPlot from './vendor/uPlot.esm.js';

const html = htm.bind(h);
const store = window.sessionStorage;

// ---- API -------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    const field = e.data && (e.data.reason || e.data.field);
    super(`${e.message || 'HTTP ' + status}${field ? ': ' + field : ''}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, body) {
  const send = () => fetch(path, {
    method,
    headers: { 'content-type': 'application/json', ...(store.token ? { authorization: 'Bearer ' + store.token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let resp = await send();
  if (resp.status === 401 && store.refresh) {
    const r = await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: store.refresh }) });
    if (r.ok) {
      const t = await r.json();
      store.token = t.token;
      store.refresh = t.refresh_token;
      resp = await send();
    } else {
      signOut();
    }
  }
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}
const get = (p) => call('GET', p);
const enc = encodeURIComponent;

function signOut() {
  delete store.token;
  delete store.refresh;
  delete store.user;
  location.hash = '#/';
  location.reload();
}

// ---- small pieces ------------------------------------------------------------------
function useLoad(fn, deps) {
  const [state, setState] = useState({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState({ loading: true });
    fn().then((data) => live && setState({ data }), (error) => live && setState({ error }));
    return () => { live = false; };
  }, [...deps, tick]);
  return [state, () => setTick(tick + 1)];
}

function Loaded({ state, children }) {
  if (state.loading) return html`<p class="muted">Loading…</p>`;
  if (state.error) return html`<p class="error" data-testid="error">${state.error.message}</p>`;
  return children(state.data);
}

function Table({ rows, cols, testid, empty = 'Nothing yet.' }) {
  if (!rows || rows.length === 0) return html`<p class="muted" data-testid=${testid}>${empty}</p>`;
  return html`<table data-testid=${testid}><thead><tr>${cols.map((c) => html`<th>${c[0]}</th>`)}</tr></thead>
    <tbody>${rows.map((r) => html`<tr>${cols.map((c) => html`<td>${c[1](r)}</td>`)}</tr>`)}</tbody></table>`;
}

function Chart({ title, x, series, testid }) {
  const el = useRef(null);
  useEffect(() => {
    if (!el.current) return undefined;
    el.current.innerHTML = '';
    const plot = new uPlot({
      title, width: Math.min(900, el.current.clientWidth || 700), height: 240,
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: ['#3b5bdb', '#e8590c', '#2b8a3e', '#ae3ec9'][i % 4], width: 2 }))],
      axes: [{}, {}],
    }, [x, ...series.map((s) => s.values)], el.current);
    return () => plot.destroy();
  }, [JSON.stringify([x, series])]);
  return html`<div class="card" data-testid=${testid}><div ref=${el}></div></div>`;
}

function Action({ label, run, cls = '', testid, confirmText }) {
  const [msg, setMsg] = useState(null);
  const click = async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    try {
      const r = await run();
      setMsg({ ok: true, text: typeof r === 'string' ? r : 'Done' });
    } catch (e) {
      setMsg({ ok: false, text: e.message });
    }
  };
  return html`<span><button class=${cls} data-testid=${testid} onClick=${click}>${label}</button>
    ${msg && html` <span class=${msg.ok ? 'ok' : 'error'} data-testid=${testid + '-result'}>${msg.text}</span>`}</span>`;
}

const day = (d) => d.toISOString().slice(0, 10);
const ts = (s) => (s ? new Date(s).toLocaleString() : '');

// ---- pages -------------------------------------------------------------------------
function Login() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    try {
      const r = await call('POST', '/api/v1/auth/login', { email, password });
      store.token = r.token;
      store.refresh = r.refresh_token;
      store.user = JSON.stringify(r.user);
      location.hash = '#/games';
      location.reload();
    } catch (err) {
      setError(err.message);
    }
  };
  return html`<form class="card login" onSubmit=${submit} data-testid="login">
    <h2>AeThex Cloud console</h2>
    <input type="email" placeholder="Email" value=${email} onInput=${(e) => setEmail(e.target.value)} data-testid="email" required />
    <input type="password" placeholder="Password" value=${password} onInput=${(e) => setPassword(e.target.value)} data-testid="password" required />
    <button class="primary" type="submit" data-testid="sign-in">Sign in</button>
    ${error && html`<p class="error" data-testid="login-error">${error}</p>`}
  </form>`;
}

function Games({ ctx }) {
  const [state, reload] = useLoad(() => (ctx.org ? get(`/api/v1/orgs/${enc(ctx.org)}/games`) : Promise.resolve({ games: [] })), [ctx.org]);
  const [members] = useLoad(() => (ctx.org ? get(`/api/v1/orgs/${enc(ctx.org)}/members`) : Promise.resolve({ members: [] })), [ctx.org]);
  const [keys, reloadKeys] = useLoad(() => (ctx.game ? get(`/api/v1/games/${enc(ctx.game)}/server-keys`) : Promise.resolve({ keys: [] })), [ctx.game]);
  return html`<section><h2>Games and keys</h2>
    <${Loaded} state=${state}>${(d) => html`<${Table} testid="games" rows=${d.games} cols=${[
      ['Game', (g) => html`<a href="#/games" onClick=${() => ctx.setGame(g.game_id)}>${g.game_id}</a>`],
      ['Name', (g) => g.name], ['Tier', (g) => g.tier], ['COPPA', (g) => (g.coppa ? 'yes' : 'no')],
      ['Client key', (g) => html`<code data-testid="client-key">${g.client_key}</code>`],
      ['', (g) => html`<${Action} label="Rotate client key" testid="rotate-key" confirmText="Builds with the old key stop working. Rotate?" run=${async () => { await call('POST', `/api/v1/games/${enc(g.game_id)}/client-key/rotate`); reload(); return 'Rotated'; }} />`],
    ]} />`}<//>
    <h3>Server keys of ${ctx.game}</h3>
    <${Loaded} state=${keys}>${(d) => html`<${Table} testid="server-keys" rows=${d.keys || d.server_keys || []} cols=${[
      ['Key id', (k) => k.key_id], ['Name', (k) => k.name], ['Created', (k) => ts(k.created_at)],
    ]} empty="No server keys." />`}<//>
    <div class="row"><${Action} label="New server key" testid="new-server-key" run=${async () => { const k = await call('POST', `/api/v1/games/${enc(ctx.game)}/server-keys`, { name: 'console' }); reloadKeys(); return 'Key (shown once): ' + k.key; }} /></div>
    <h3>Members of the organization</h3>
    <${Loaded} state=${members}>${(d) => html`<${Table} testid="members" rows=${d.members} cols=${[
      ['User', (m) => m.username || m.user_id], ['Role', (m) => m.role],
    ]} />`}<//>
  </section>`;
}

function Players({ ctx }) {
  const [q, setQ] = useState('');
  const [query, setQuery] = useState('');
  const [state, reload] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/players?q=${enc(query)}`), [ctx.game, query]);
  const [picked, setPicked] = useState(null);
  return html`<section><h2>Players</h2>
    <form class="row" onSubmit=${(e) => { e.preventDefault(); setQuery(q); }}>
      <input placeholder="Username, email or id" value=${q} onInput=${(e) => setQ(e.target.value)} data-testid="player-search" />
      <button type="submit" data-testid="player-search-go">Search</button>
    </form>
    <${Loaded} state=${state}>${(d) => html`<${Table} testid="players" rows=${d.players} cols=${[
      ['Username', (p) => html`<a href="#/players" data-testid="player-link" onClick=${() => setPicked(p)}>${p.username}</a>`],
      ['Email', (p) => p.email || ''], ['Last seen', (p) => ts(p.last_seen)],
      ['Status', (p) => (p.banned ? html`<span class="error">banned: ${p.ban_reason}</span>` : 'active')],
    ]} empty="No players match." />`}<//>
    ${picked && html`<${Player} key=${picked.user_id} ctx=${ctx} player=${picked} done=${reload} close=${() => setPicked(null)} />`}
  </section>`;
}

function Player({ ctx, player, done, close }) {
  const base = `/api/v1/games/${enc(ctx.game)}/players/${enc(player.user_id)}`;
  const [saves] = useLoad(() => get(base + '/saves'), [base]);
  const [exported, setExported] = useState(null);
  return html`<div class="card" data-testid="player-view"><h3>${player.username} <span class="muted">${player.user_id}</span> <button onClick=${close}>Close</button></h3>
    <h3>Saves</h3>
    <${Loaded} state=${saves}>${(d) => html`<${Table} testid="player-saves" rows=${d.saves} cols=${[
      ['Slot', (s) => s.name], ['Version', (s) => s.version], ['Size', (s) => s.size + ' B'], ['Saved', (s) => ts(s.timestamp)],
    ]} empty="No saves." />
      <p class="muted">Quota: ${d.used_bytes} of ${d.quota_bytes} bytes used</p>`}<//>
    <div class="row">
      <${Action} label="Ban" cls="danger" testid="ban" run=${async () => { await call('POST', base + '/ban', { reason: 'banned from the console' }); done(); return 'Banned'; }} />
      <${Action} label="Unban" testid="unban" run=${async () => { await call('DELETE', base + '/ban'); done(); return 'Unbanned'; }} />
      <${Action} label="GDPR export" testid="export" run=${async () => { setExported(await get(base + '/export')); return 'Exported'; }} />
      <${Action} label="Delete player data" cls="danger" testid="erase" confirmText=${'Delete all of ' + player.username + "'s data in this game?"} run=${async () => { const r = await call('DELETE', base); done(); return 'Deleted, receipt ' + r.receipt_id; }} />
    </div>
    ${exported && html`<pre data-testid="export-json">${JSON.stringify(exported, null, 2)}</pre>`}
  </div>`;
}

function Leaderboards({ ctx }) {
  const [boards] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/leaderboards`), [ctx.game]);
  const [board, setBoard] = useState(null);
  const [entries] = useLoad(() => (board ? get(`/api/v1/games/${enc(ctx.game)}/leaderboards/${enc(board)}/entries?limit=50`) : Promise.resolve(null)), [ctx.game, board]);
  return html`<section><h2>Leaderboards</h2>
    <${Loaded} state=${boards}>${(d) => html`<${Table} testid="boards" rows=${d.leaderboards} cols=${[
      ['Board', (b) => html`<a href="#/leaderboards" data-testid="board-link" onClick=${() => setBoard(b.leaderboard_id)}>${b.leaderboard_id}</a>`],
      ['Name', (b) => b.name], ['Order', (b) => b.sort_order], ['Operator', (b) => b.operator], ['Reset', (b) => b.reset || 'never'],
    ]} />`}<//>
    ${board && html`<h3>${board}: top 50</h3><${Loaded} state=${entries}>${(d) => d && html`<${Table} testid="board-entries" rows=${d.entries} cols=${[
      ['Rank', (e) => e.rank], ['Player', (e) => e.username], ['Score', (e) => e.score], ['Updated', (e) => ts(e.updated_at)],
    ]} empty="No scores yet." />`}<//>`}
  </section>`;
}

function Achievements({ ctx }) {
  const [defs] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/achievements`), [ctx.game]);
  const [stats] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/stats`), [ctx.game]);
  return html`<section><h2>Achievements</h2>
    <${Loaded} state=${defs}>${(d) => html`<${Table} testid="achievements" rows=${d.achievements} cols=${[
      ['Id', (a) => a.achievement_id], ['Name', (a) => a.name], ['Description', (a) => a.description],
      ['Hidden', (a) => (a.hidden ? 'yes' : 'no')], ['Target', (a) => a.progress_target],
    ]} />`}<//>
    <h3>Player statistics</h3>
    <${Loaded} state=${stats}>${(d) => html`<${Table} testid="stats" rows=${d.stats} cols=${[
      ['Stat', (s) => s.stat], ['Players', (s) => s.players], ['Sum', (s) => s.sum], ['Min', (s) => s.min], ['Max', (s) => s.max], ['Average', (s) => Number(s.avg).toFixed(2)],
    ]} />`}<//>
  </section>`;
}

function Dlc({ ctx }) {
  const [state, reload] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/releases`), [ctx.game]);
  const [target, setTarget] = useState('beta');
  return html`<section><h2>DLC releases</h2>
    <${Loaded} state=${state}>${(d) => {
      const releases = d.releases || [];
      const channels = releases.filter((r) => r.current);
      return html`
      <h3>Channels</h3>
      <${Table} testid="channels" rows=${channels} cols=${[['Channel', (c) => c.channel], ['Serves', (c) => c.version], ['Released', (c) => ts(c.created_at)],
        ['', (c) => html`<${Action} label="Roll back" testid=${'rollback-' + c.channel} run=${async () => { const r = await call('POST', `/api/v1/games/${enc(ctx.game)}/channels/${enc(c.channel)}/rollback`, {}); reload(); return 'Now ' + r.version; }} />`]]} empty="No channels." />
      <h3>Releases</h3>
      <div class="row">Promote to channel <input value=${target} onInput=${(e) => setTarget(e.target.value)} data-testid="promote-channel" /></div>
      <${Table} testid="releases" rows=${releases} cols=${[['Version', (r) => r.version], ['Channel', (r) => r.channel + (r.current ? ' (current)' : '')], ['Files', (r) => r.totals.files], ['Size', (r) => r.totals.bytes + ' B'], ['Created', (r) => ts(r.created_at)],
        ['', (r) => html`<${Action} label="Promote" testid=${'promote-' + r.version} run=${async () => { await call('POST', `/api/v1/games/${enc(ctx.game)}/releases/${enc(r.version)}/promote`, { from_channel: r.channel, to_channel: target }); reload(); return 'Promoted'; }} />`]]} empty="No releases." />`;
    }}<//>
  </section>`;
}

function Regions({ ctx }) {
  const [state, reload] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/rooms`), [ctx.game]);
  return html`<section><h2>Regions and live rooms</h2><button onClick=${reload} data-testid="refresh-rooms">Refresh</button>
    <${Loaded} state=${state}>${(d) => html`
      <${Table} testid="regions" rows=${d.regions} cols=${[['Region', (r) => r.name], ['Relay', (r) => r.url], ['Players', (r) => r.load + ' / ' + r.capacity], ['Heartbeat', (r) => new Date(r.last_seen_ms).toLocaleTimeString()]]} empty="No live regions." />
      <h3>Rooms of ${ctx.game}</h3>
      <${Table} testid="rooms" rows=${d.rooms} cols=${[['Room', (r) => r.room_id], ['Region', (r) => r.region], ['Code', (r) => r.code || ''], ['Match', (r) => r.match_id || ''], ['Players', (r) => r.players + ' / ' + r.max_players]]} empty="No live rooms." />
      ${d.unreachable.length > 0 && html`<p class="error">Not answering: ${d.unreachable.join(', ')}</p>`}`}<//>
  </section>`;
}

function Analytics({ ctx }) {
  const g = enc(ctx.game);
  const today = new Date();
  const days = [...Array(14).keys()].map((i) => day(new Date(today.getTime() - (13 - i) * 86400000)));
  const [active] = useLoad(() => Promise.all(days.map((d) => get(`/api/v1/games/${g}/analytics/active-users?day=${d}`))), [ctx.game]);
  const [events] = useLoad(() => get(`/api/v1/games/${g}/analytics/events?bucket=hour`), [ctx.game]);
  const [retention] = useLoad(() => get(`/api/v1/games/${g}/analytics/retention?cohort=${day(today)}&days=1,7,30`), [ctx.game]);
  const [steps, setSteps] = useState('tutorial_start,tutorial_done,purchase');
  const [funnelSteps, setFunnelSteps] = useState(steps);
  const [funnel] = useLoad(() => get(`/api/v1/games/${g}/analytics/funnel?steps=${enc(funnelSteps)}`), [ctx.game, funnelSteps]);
  const [crashes] = useLoad(() => get(`/api/v1/games/${g}/analytics/crashes?limit=20`), [ctx.game]);
  const [experiments] = useLoad(async () => {
    const list = await get(`/api/v1/games/${g}/experiments`);
    return Promise.all(list.experiments.map(async (e) => ({ ...e, results: await get(`/api/v1/games/${g}/experiments/${enc(e.experiment_id)}/results`) })));
  }, [ctx.game]);
  return html`<section><h2>Analytics</h2>
    <${Loaded} state=${active}>${(d) => html`
      <div class="cards"><div class="card" data-testid="dau"><div class="muted">DAU today</div><div class="metric">${d[d.length - 1].dau}</div></div>
      <div class="card" data-testid="mau"><div class="muted">MAU</div><div class="metric">${d[d.length - 1].mau}</div></div></div>
      <${Chart} testid="chart-active" title="Daily and monthly active players" x=${days.map((s) => Date.parse(s) / 1000)} series=${[{ label: 'DAU', values: d.map((a) => a.dau) }, { label: 'MAU', values: d.map((a) => a.mau) }]} />`}<//>
    <${Loaded} state=${events}>${(d) => {
      // The last 24 hours, hour by hour (hours without events count 0).
      const hour = 3600000;
      const last = Math.floor(Date.now() / hour) * hour;
      const hours = [...Array(24).keys()].map((i) => last - (23 - i) * hour);
      const types = [...new Set(d.buckets.map((b) => b.event_type))].sort();
      const count = (t, at) => d.buckets.filter((b) => b.event_type === t && Date.parse(b.start) === at).reduce((a, b) => a + b.count, 0);
      return html`<${Chart} testid="chart-events" title="Events per hour" x=${hours.map((at) => at / 1000)}
        series=${types.map((t) => ({ label: t, values: hours.map((at) => count(t, at)) }))} />
        <${Table} testid="event-types" rows=${types.map((t) => ({ t, n: d.buckets.filter((b) => b.event_type === t).reduce((a, b) => a + b.count, 0) }))} cols=${[['Event', (r) => r.t], ['Last 24 h', (r) => r.n]]} />`;
    }}<//>
    <h3>Retention of today's new players</h3>
    <${Loaded} state=${retention}>${(d) => html`<p class="muted" data-testid="cohort">${d.cohort_size} new players on ${d.cohort}</p><${Table} testid="retention" rows=${d.days} cols=${[['Day', (r) => 'day ' + r.day], ['Retained', (r) => r.retained], ['Rate', (r) => (r.rate * 100).toFixed(1) + ' %']]} />`}<//>
    <h3>Funnel</h3>
    <form class="row" onSubmit=${(e) => { e.preventDefault(); setFunnelSteps(steps); }}><input size="50" value=${steps} onInput=${(e) => setSteps(e.target.value)} data-testid="funnel-steps" /><button type="submit" data-testid="funnel-go">Show</button></form>
    <${Loaded} state=${funnel}>${(d) => html`<${Table} testid="funnel" rows=${d.steps} cols=${[['Step', (s) => s.event_type], ['Players', (s) => s.players]]} />`}<//>
    <h3>Crash groups</h3>
    <${Loaded} state=${crashes}>${(d) => html`<${Table} testid="crashes" rows=${d.groups} cols=${[['Crash', (c) => c.title], ['Reports', (c) => c.count], ['Versions', (c) => (c.versions || []).map((v) => v.game_version + ' (' + v.count + ')').join(', ')], ['Last seen', (c) => ts(c.last_seen)]]} empty="No crashes." />`}<//>
    <h3>A/B tests</h3>
    <${Loaded} state=${experiments}>${(list) => list.length === 0 ? html`<p class="muted" data-testid="experiments">No experiments.</p>` : list.map((e) => html`<div class="card" data-testid="experiment">
      <b>${e.experiment_id}</b> <span class="muted">conversion: ${e.conversion_event}${e.active ? '' : ' (inactive)'}</span>
      <${Table} testid="experiment-results" rows=${e.results.variants} cols=${[['Variant', (v) => v.variant], ['Exposed', (v) => v.exposed], ['Converted', (v) => v.converted], ['Rate', (v) => (v.rate * 100).toFixed(1) + ' %'], ['95 % interval', (v) => (v.ci_low * 100).toFixed(1) + '–' + (v.ci_high * 100).toFixed(1) + ' %']]} /></div>`)}<//>
  </section>`;
}

function Audit({ ctx }) {
  const [state] = useLoad(() => get(`/api/v1/games/${enc(ctx.game)}/audit?limit=200`), [ctx.game]);
  return html`<section><h2>Audit log</h2>
    <${Loaded} state=${state}>${(d) => html`<${Table} testid="audit" rows=${d.entries} cols=${[['When', (e) => ts(e.at)], ['Who', (e) => e.actor_name || e.actor_id || ''], ['What', (e) => html`<code>${e.method} ${e.path}</code>`], ['Status', (e) => e.status]]} empty="No changes recorded yet." />`}<//>
  </section>`;
}

const PAGES = [
  ['games', 'Games and keys', Games], ['players', 'Players', Players], ['leaderboards', 'Leaderboards', Leaderboards],
  ['achievements', 'Achievements', Achievements], ['dlc', 'DLC releases', Dlc], ['regions', 'Regions and rooms', Regions],
  ['analytics', 'Analytics', Analytics], ['audit', 'Audit log', Audit],
];

function App() {
  const [route, setRoute] = useState(location.hash.replace(/^#\/?/, '') || 'games');
  useEffect(() => {
    const on = () => setRoute(location.hash.replace(/^#\/?/, '') || 'games');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  const [orgs] = useLoad(() => (store.token ? get('/api/v1/orgs') : Promise.resolve({ organizations: [] })), []);
  const [org, setOrg] = useState(store.org || '');
  const [games] = useLoad(() => (org ? get(`/api/v1/orgs/${enc(org)}/games`) : Promise.resolve({ games: [] })), [org]);
  const [game, setGameState] = useState(store.game || '');
  const setGame = (g) => { store.game = g; setGameState(g); };
  const orgList = (orgs.data && (orgs.data.organizations || orgs.data.orgs)) || [];
  useEffect(() => { if (!org && orgList.length) { store.org = orgList[0].org_id; setOrg(orgList[0].org_id); } }, [orgs.data]);
  useEffect(() => {
    const list = (games.data && games.data.games) || [];
    if (list.length && !list.some((g) => g.game_id === game)) setGame(list[0].game_id);
  }, [games.data]);
  if (!store.token) return html`<${Login} />`;
  const user = JSON.parse(store.user || '{}');
  const page = PAGES.find((p) => p[0] === route) || PAGES[0];
  const Page = page[2];
  const ctx = { org, game, setGame };
  return html`<div class="shell">
    <nav><h1>AeThex Cloud</h1>${PAGES.map((p) => html`<a href=${'#/' + p[0]} class=${p === page ? 'active' : ''} data-testid=${'nav-' + p[0]}>${p[1]}</a>`)}</nav>
    <main>
      <header class="bar">
        <label>Organization <select value=${org} onChange=${(e) => { store.org = e.target.value; setOrg(e.target.value); }} data-testid="org">${orgList.map((o) => html`<option value=${o.org_id}>${o.name}</option>`)}</select></label>
        <label>Game <select value=${game} onChange=${(e) => setGame(e.target.value)} data-testid="game">${((games.data && games.data.games) || []).map((g) => html`<option value=${g.game_id}>${g.game_id}</option>`)}</select></label>
        <span class="who" data-testid="who">${user.username || ''}</span><button onClick=${signOut} data-testid="sign-out">Sign out</button>
      </header>
      ${game || page[0] === 'games' ? html`<${Page} key=${page[0] + game} ctx=${ctx} />` : html`<p class="muted">Choose a game.</p>`}
    </main>
  </div>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
