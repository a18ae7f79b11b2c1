import type { ApplyResult, DiskUsage, Inspection, Plan, ReferrerInfo, TagRow, UndoOutcome } from '../krill.js';
import type { Html } from './html.js';
import { bytes, date, html, query, raw } from './html.js';

/** The pages of `krill serve`, server-rendered. Every value from outside goes through `html`. */

export interface PageContext {
  registry: string;
  readOnly: boolean;
  /** Present when the visitor holds the server token: changing forms carry it (CSRF). */
  csrf?: string;
}

export function layout(ctx: PageContext, title: string, body: Html): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · krill</title>
        <link rel="stylesheet" href="/assets/style.css" />
      </head>
      <body>
        <header>
          <span class="brand">krill</span>
          <nav><a href="/">Catalog</a><a href="/cleanup">Cleanup review</a></nav>
          <span class="muted"
            >${ctx.registry}${ctx.readOnly ? ' · read-only' : ''}${ctx.csrf === undefined && !ctx.readOnly ? ' · not signed in (open the URL with the token to apply)' : ''}</span
          >
        </header>
        <main>${body}</main>
        <script src="/assets/app.js" defer></script>
      </body>
    </html> `.text;
}

const repoLink = (repository: string) => html`<a href="/repository?${query({ name: repository })}">${repository}</a>`;

function filterBox(table: string, what: string): Html {
  return html`<input
    class="filter"
    type="search"
    data-table="${table}"
    placeholder="Filter ${what}…"
    aria-label="Filter ${what}"
  />`;
}

export function catalogPage(ctx: PageContext, usage: DiskUsage): string {
  const top = usage.repositories.slice(0, 10);
  const max = Math.max(1, ...top.map((r) => r.exclusiveBytes));
  const chart = top.map(
    (r) =>
      html`<div class="row">
        <span class="name">${repoLink(r.repository)}</span>
        <progress class="bar" max="${max}" value="${r.exclusiveBytes}"></progress>
        <span class="num">${bytes(r.exclusiveBytes)}</span>
      </div>`,
  );
  const rows = usage.repositories.map(
    (r) =>
      html`<tr>
        <td>${repoLink(r.repository)}</td>
        <td class="num" data-value="${r.tags}">${r.tags}</td>
        <td class="num" data-value="${r.exclusiveBytes}">${bytes(r.exclusiveBytes)}</td>
        <td class="num" data-value="${r.sharedBytes}">${bytes(r.sharedBytes)}</td>
        <td class="num" data-value="${r.totalBytes}">${bytes(r.totalBytes)}</td>
      </tr>`,
  );
  return layout(
    ctx,
    'Catalog',
    html`<h1>${usage.repositories.length} repositories · ${bytes(usage.totalBytes)} in blobs</h1>
      <h2>Biggest repositories by what deleting them frees</h2>
      <div class="chart" id="chart">${chart}</div>
      ${filterBox('catalog', 'repositories')}
      <table id="catalog">
        <thead>
          <tr>
            <th data-sort="text">Repository</th>
            <th class="num" data-sort="num">Tags</th>
            <th class="num" data-sort="num" title="bytes no other repository references">Exclusive</th>
            <th class="num" data-sort="num">Shared</th>
            <th class="num" data-sort="num">Total</th>
          </tr>
        </thead>
        <tbody>
          ${rows}
        </tbody>
      </table>`,
  );
}

export function repositoryPage(
  ctx: PageContext,
  repository: string,
  rows: TagRow[],
  inUse?: ReadonlyMap<string, string>,
): string {
  const ledger = rows.some((r) => r.lastPulled !== undefined);
  const body = rows.map(
    (r) =>
      html`<tr>
        <td class="tag">
          ${r.digest ? html`<a href="/image?${query({ ref: `${repository}:${r.tag}` })}">${r.tag}</a>` : r.tag}
          ${r.attachment ? html` <span class="badge">${r.attachment === 'fallback' ? 'referrers' : 'legacy attachment'}</span>` : ''}
          ${r.digest && inUse?.has(r.digest) ? html`<span class="badge in-use" title="${inUse.get(r.digest)!}">in use</span>` : ''}
        </td>
        <td class="mono" title="${r.digest ?? ''}">${r.digest ? r.digest.slice(7, 19) : '-'}</td>
        <td data-value="${r.created ?? ''}">${date(r.created)}</td>
        ${
          ledger
            ? html`<td data-value="${r.pushed ?? ''}">${date(r.pushed)}</td>
                <td data-value="${r.lastPulled ?? ''}">${date(r.lastPulled)}</td>
                <td class="num">${r.pulls ?? 0}</td>`
            : ''
        }
        <td class="num" data-value="${r.size}">${bytes(r.size)}</td>
        <td>
          ${r.artifactType ?? r.platforms.join(', ')}${r.dangling ? html`<span class="badge">dangling</span>` : ''}
        </td>
        <td>${r.referrers ? `${r.referrers.count} (${r.referrers.types.join(', ')})` : ''}</td>
      </tr>`,
  );
  return layout(
    ctx,
    repository,
    html`<h1>${repository}</h1>
      <p class="muted">
        ${rows.length} tags · <a href="/cleanup?${query({ repository })}">review a cleanup of this repository</a>
      </p>
      ${filterBox('tags', 'tags')}
      <table id="tags">
        <thead>
          <tr>
            <th data-sort="text">Tag</th>
            <th>Digest</th>
            <th data-sort="text">Created</th>
            ${
              ledger
                ? html`<th data-sort="text">Pushed</th>
                    <th data-sort="text">Last pulled</th>
                    <th class="num" data-sort="num">Pulls</th>`
                : ''
            }
            <th class="num" data-sort="num">Size</th>
            <th>Platforms</th>
            <th>Referrers</th>
          </tr>
        </thead>
        <tbody>
          ${body}
        </tbody>
      </table>`,
  );
}

function referrerTree(items: ReferrerInfo[]): Html {
  if (items.length === 0) return html``;
  return html`<ul class="tree">
    ${items.map(
      (r) =>
        html`<li>
          <span class="badge">${r.artifactType ?? r.mediaType}</span>
          <code>${r.digest.slice(0, 19)}</code> ${bytes(r.size)} ·
          ${r.via}${r.missing ? ' · missing' : ''}${referrerTree(r.referrers)}
        </li>`,
    )}
  </ul>`;
}

export function imagePage(ctx: PageContext, repository: string, image: Inspection): string {
  const labels = Object.entries(image.config?.labels ?? {});
  return layout(
    ctx,
    image.reference,
    html`<h1>${image.reference}</h1>
      <p><a href="/repository?${query({ name: repository })}">← ${repository}</a></p>
      <div class="summary">
        <div><span class="muted">Digest</span><b class="mono">${image.digest.slice(0, 19)}</b></div>
        <div><span class="muted">Created</span><b>${date(image.created)}</b></div>
        <div><span class="muted">Size</span><b>${bytes(image.size)}</b></div>
        <div><span class="muted">Platforms</span><b>${image.platforms.join(', ') || image.artifactType || '-'}</b></div>
      </div>
      ${
        image.manifests
          ? html`<h2>Platforms</h2>
              <table>
                <thead>
                  <tr>
                    <th>Platform</th>
                    <th>Digest</th>
                    <th>Created</th>
                    <th class="num">Size</th>
                  </tr>
                </thead>
                <tbody>
                  ${image.manifests.map(
                    (m) =>
                      html`<tr>
                        <td>${m.platform}</td>
                        <td class="mono">${m.digest.slice(0, 19)}</td>
                        <td>${date(m.created)}</td>
                        <td class="num">${bytes(m.size)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
          : ''
      }
      ${
        image.layers
          ? html`<h2>Layers</h2>
              <table>
                <thead>
                  <tr>
                    <th>#</th>
                    <th>Digest</th>
                    <th>Media type</th>
                    <th class="num">Size</th>
                  </tr>
                </thead>
                <tbody>
                  ${image.layers.map(
                    (l, i) =>
                      html`<tr>
                        <td>${i + 1}</td>
                        <td class="mono">${l.digest.slice(0, 19)}</td>
                        <td>${l.mediaType}</td>
                        <td class="num">${bytes(l.size)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
          : ''
      }
      ${
        image.config
          ? html`<h2>Config</h2>
              <table>
                <tbody>
                  <tr>
                    <th>Author</th>
                    <td>${image.config.author ?? '-'}</td>
                  </tr>
                  <tr>
                    <th>Platform</th>
                    <td>
                      ${[image.config.os, image.config.architecture, image.config.variant].filter(Boolean).join('/') || '-'}
                    </td>
                  </tr>
                  <tr>
                    <th>History steps</th>
                    <td>${image.config.historySteps}</td>
                  </tr>
                  ${labels.map(
                    ([k, v]) =>
                      html`<tr>
                        <th>${k}</th>
                        <td>${v}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
          : ''
      }
      <h2>Referrers</h2>
      ${image.referrers.length ? referrerTree(image.referrers) : html`<p class="muted">No signatures, SBOMs or attestations.</p>`}`,
  );
}

export interface CleanupForm {
  repository: string;
  keep: string;
  olderThan: string;
  deleteRegex: string;
  keepRegex: string;
  unpulledFor: string;
  policy: string;
}

export function cleanupPage(ctx: PageContext, repositories: string[], form: CleanupForm, error?: string): string {
  return layout(
    ctx,
    'Cleanup review',
    html`<h1>Cleanup review</h1>
      <p class="muted">
        Pick a repository and rules, or paste a policy file: the plan shows what would be deleted and why. Nothing
        changes until you apply it.
      </p>
      ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
      <form method="post" action="/cleanup/plan">
        <div class="rules">
          <label
            >Repository
            <select name="repository">
              <option value="">(all, with the policy file)</option>
              ${repositories.map((r) => html`<option value="${r}" ${r === form.repository ? raw('selected') : ''}>${r}</option>`)}
            </select></label
          >
          <label>Keep the newest <input type="number" min="0" name="keep" value="${form.keep}" /></label>
          <label>Older than <input type="text" name="older-than" placeholder="30d" value="${form.olderThan}" /></label>
          <label
            >Delete regex <input type="text" name="delete-regex" placeholder="^mr-" value="${form.deleteRegex}"
          /></label>
          <label
            >Keep regex <input type="text" name="keep-regex" placeholder="^v\\d" value="${form.keepRegex}"
          /></label>
          <label
            >Unpulled for
            <input type="text" name="unpulled-for" placeholder="90d (needs the ledger)" value="${form.unpulledFor}"
          /></label>
        </div>
        <label
          >Or a policy file
          <textarea name="policy" placeholder='version: 1&#10;rules:&#10;  - repos: "apps/*"&#10;    keep: 5'>
${form.policy}</textarea>
        </label>
        <p><button type="submit">Show the plan</button></p>
      </form>`,
  );
}

export function planPage(ctx: PageContext, plan: Plan, planId: string): string {
  const deleted = plan.repositories.reduce((n, r) => n + r.delete.length, 0);
  const kept = plan.repositories.reduce((n, r) => n + r.keep.length, 0);
  const sections = plan.repositories.map(
    (r) =>
      html`<h2>
          ${repoLink(r.repository)} <span class="muted">· delete ${r.delete.length}, keep ${r.keep.length}</span>
        </h2>
        ${r.listingSuspect ? html`<p class="error">${r.listingSuspect}</p>` : ''}
        <table class="plan">
          <thead>
            <tr>
              <th>Action</th>
              <th>Tag</th>
              <th>Digest</th>
              <th>Created</th>
              <th class="num">Size</th>
              <th>Reason</th>
            </tr>
          </thead>
          <tbody>
            ${[...r.delete.map((t) => ['delete', t] as const), ...r.keep.map((t) => ['keep', t] as const)].map(
              ([action, t]) =>
                html`<tr>
                  <td class="${action}">${action}</td>
                  <td class="tag">${t.tag}</td>
                  <td class="mono">${t.digest.slice(7, 19)}</td>
                  <td>${date(t.created)}</td>
                  <td class="num">${t.size === undefined ? '' : bytes(t.size)}</td>
                  <td>${t.reason}</td>
                </tr>`,
            )}
          </tbody>
        </table>`,
  );
  const refused = plan.limits?.refused;
  const canApply = !ctx.readOnly && deleted > 0 && refused === undefined;
  return layout(
    ctx,
    'Plan',
    html`<h1>Plan for ${plan.registry.host}</h1>
      <div class="summary">
        <div><span class="muted">Tags deleted</span><b id="deleted-count">${deleted}</b></div>
        <div><span class="muted">Tags kept</span><b>${kept}</b></div>
        <div>
          <span class="muted">Space freed by garbage collection</span
          ><b>${plan.reclaimableExact ? '' : 'at most '}${bytes(plan.reclaimableBytes)}</b>
        </div>
      </div>
      ${refused ? html`<p class="error">Refused: ${refused}. Nothing of it can be applied.</p>` : ''}
      ${
        canApply
          ? html`<form method="post" action="/cleanup/apply" class="notice">
              <input type="hidden" name="plan" value="${planId}" />
              <input type="hidden" name="csrf" value="${ctx.csrf ?? ''}" />
              <label
                ><span
                  ><input type="checkbox" name="confirm" value="yes" required /> I reviewed this plan: delete ${deleted}
                  tags from ${plan.registry.host}</span
                ></label
              >
              <p><button type="submit" class="danger">Apply the plan</button></p>
            </form>`
          : ''
      }
      ${sections}`,
  );
}

export function appliedPage(
  ctx: PageContext,
  result: ApplyResult & { journal: string | undefined },
  journalId: string | undefined,
): string {
  const count = (status: string) =>
    result.outcomes.filter((o) => o.status === status).reduce((n, o) => n + Math.max(1, o.tags.length), 0);
  return layout(
    ctx,
    'Applied',
    html`<h1>Applied</h1>
      <p id="applied-summary">
        Deleted ${count('deleted')}, untagged ${count('untagged')}, already gone ${count('already-gone')}, skipped
        ${count('skipped')}, failed ${count('failed')}.
      </p>
      <table>
        <thead>
          <tr>
            <th>Status</th>
            <th>Repository</th>
            <th>Tags</th>
            <th>Digest</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          ${result.outcomes.map(
            (o) =>
              html`<tr>
                <td>${o.status}</td>
                <td>${o.repository}</td>
                <td class="tag">${o.tags.join(', ')}</td>
                <td class="mono">${o.digest.slice(7, 19)}</td>
                <td>${o.detail ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${result.journal ? html`<p class="muted">Undo journal: <code>${result.journal}</code></p>` : ''}
      ${
        journalId && !ctx.readOnly
          ? html`<form method="post" action="/undo" class="notice">
              <input type="hidden" name="journal" value="${journalId}" /><input
                type="hidden"
                name="csrf"
                value="${ctx.csrf ?? ''}"
              />
              <p>Put back what this run removed (until the registry's garbage collection runs).</p>
              <button type="submit">Undo</button>
            </form>`
          : ''
      }`,
  );
}

export function undonePage(ctx: PageContext, outcomes: UndoOutcome[]): string {
  return layout(
    ctx,
    'Undone',
    html`<h1>Undone</h1>
      <table id="undone">
        <thead>
          <tr>
            <th>Status</th>
            <th>Repository</th>
            <th>Tags</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          ${outcomes.map(
            (o) =>
              html`<tr>
                <td>${o.status}</td>
                <td>${o.repository}</td>
                <td class="tag">${o.tags.join(', ')}</td>
                <td>${o.detail ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>`,
  );
}

export function errorPage(ctx: PageContext, title: string, message: string): string {
  return layout(
    ctx,
    title,
    html`<h1>${title}</h1>
      <p class="error" role="alert">${message}</p>
      <p><a href="/">Back to the catalog</a></p>`,
  );
}
