/**
 * The page's style and script, served by krill itself (nothing fetched at run time, no CDN). The
 * script only sorts tables, filters rows and asks before applying; every page works without it.
 */

export const STYLE = `
:root { color-scheme: light dark; --fg: #1d2430; --bg: #fbfbfd; --muted: #6b7380; --line: #dde1e8;
  --accent: #2563eb; --danger: #b42318; --ok: #067647; --bar: #93b4f5; --card: #fff; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --bg: #12151b; --muted: #98a1b0;
  --line: #2b313c; --accent: #7aa2ff; --danger: #ff8a80; --ok: #5fd39a; --bar: #3d5a9e; --card: #181c23; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: baseline; padding: .8rem 1.5rem; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; font-size: 1.1rem; }
header nav a { margin-right: 1rem; }
main { padding: 1rem 1.5rem 3rem; max-width: 1400px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
h1 { font-size: 1.35rem; margin: .4rem 0 1rem; word-break: break-all; }
h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; user-select: none; }
th[data-sort] { cursor: pointer; } th[data-sort]::after { content: " ↕"; color: var(--muted); font-size: .8em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .92em; }
td.tag { word-break: break-all; }
.muted { color: var(--muted); }
.filter { margin: 0 0 .8rem; padding: .4rem .6rem; width: min(28rem, 100%); border: 1px solid var(--line);
  border-radius: 6px; background: var(--card); color: var(--fg); }
.chart { margin: 0 0 1.4rem; }
.chart .row { display: grid; grid-template-columns: minmax(8rem, 22rem) 1fr 7rem; gap: .6rem; align-items: center; margin: .2rem 0; }
.chart .bar { width: 100%; height: .9rem; appearance: none; border: 0; border-radius: 3px; background: var(--line); }
.chart .bar::-webkit-progress-bar { background: var(--line); border-radius: 3px; }
.chart .bar::-webkit-progress-value { background: var(--bar); border-radius: 3px; }
.chart .bar::-moz-progress-bar { background: var(--bar); border-radius: 3px; }
.chart .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8em; border: 1px solid var(--line); }
.badge.in-use { border-color: var(--ok); color: var(--ok); }
.delete { color: var(--danger); font-weight: 600; } .keep { color: var(--ok); }
.error { border: 1px solid var(--danger); color: var(--danger); padding: .8rem 1rem; border-radius: 6px; }
.notice { border: 1px solid var(--line); padding: .8rem 1rem; border-radius: 6px; background: var(--card); }
form.rules { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .8rem; margin-bottom: 1rem; }
form label { display: flex; flex-direction: column; gap: .2rem; font-weight: 600; }
input, textarea, select, button { font: inherit; }
input[type=text], input[type=number], textarea { padding: .35rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: var(--fg); }
textarea { width: 100%; min-height: 8rem; font-family: ui-monospace, monospace; }
button { padding: .45rem 1rem; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.danger { border-color: var(--danger); background: var(--danger); }
.summary { display: flex; gap: 2rem; flex-wrap: wrap; margin: .5rem 0 1rem; }
.summary div b { display: block; font-size: 1.3rem; }
ul.tree { list-style: none; padding-left: 1.2rem; } ul.tree li { margin: .2rem 0; }
@media (max-width: 900px) { main { padding: .8rem; } .hide-narrow { display: none; } }
`;

export const SCRIPT = `
document.querySelectorAll('input.filter').forEach((box) => {
  const table = document.getElementById(box.dataset.table);
  box.addEventListener('input', () => {
    const needle = box.value.toLowerCase();
    for (const row of table.tBodies[0].rows) row.hidden = !row.textContent.toLowerCase().includes(needle);
  });
});
document.querySelectorAll('th[data-sort]').forEach((th) => {
  th.addEventListener('click', () => {
    const table = th.closest('table');
    const index = [...th.parentNode.children].indexOf(th);
    const numeric = th.dataset.sort === 'num';
    const down = th.dataset.dir !== 'desc';
    th.dataset.dir = down ? 'desc' : 'asc';
    const key = (row) => { const cell = row.cells[index]; const v = cell.dataset.value ?? cell.textContent.trim(); return numeric ? Number(v) : v; };
    const rows = [...table.tBodies[0].rows].sort((a, b) => { const x = key(a), y = key(b); const c = x < y ? -1 : x > y ? 1 : 0; return down ? -c : c; });
    table.tBodies[0].append(...rows);
  });
});
`;
