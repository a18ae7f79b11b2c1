import type { ApplyResult, Plan, UndoOutcome } from '../krill.js';
import { bytes, date, html, raw } from './html.js';
import type { PageContext } from './layout.js';
import { layout, repoLink } from './layout.js';

/** Cleanup review: the form, the plan, the applied result and the undo, server-rendered. */

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
          ${repoLink(r.repository)}
          <span class="muted"
            >· delete ${r.delete.length}, keep
            ${r.keep.length}${r.reclaimableBytes ? ` · frees ${bytes(r.reclaimableBytes)} on its own` : ''}</span
          >
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
