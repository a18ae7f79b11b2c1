import type { DiskUsage, Inspection, ReferrerInfo, TagRow } from '../krill.js';
import type { Html } from './html.js';
import { bytes, date, html, query } from './html.js';
import type { PageContext } from './layout.js';
import { filterBox, layout, repoLink } from './layout.js';

/** The browsing pages of `krill serve`, server-rendered. Every value from outside goes through `html`. */

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
