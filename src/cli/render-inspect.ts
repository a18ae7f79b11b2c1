import type { Inspection, ReferrerInfo } from '../krill.js';
import { artifactLabel } from '../manifest/referrers.js';
import { escapeControl } from '../text.js';
import { formatBytes, formatDate, formatTable, indent, shortDate, shortDigest } from './render.js';

/** `krill inspect` for the terminal: the image, its platforms, its referrers (or their tree). */

const VIA: Record<ReferrerInfo['via'], string> = {
  api: 'referrers API',
  'fallback-tag': 'fallback tag',
  'legacy-tag': 'legacy tag',
};

/** The referrer graph, like `oras discover` and `regctl artifact tree`. */
export function renderTree(d: Inspection, width = 80): string {
  // Short digests and labels keep the tree within 80 columns; --json has the full ones and types.
  const root = `${escapeControl(d.reference)}  ${shortDigest(d.digest)}`;
  let out = root.length <= width ? `${root}\n` : `${escapeControl(d.reference)}\n${shortDigest(d.digest)}\n`;
  const walk = (nodes: ReferrerInfo[], prefix: string) => {
    nodes.forEach((n, i) => {
      const last = i === nodes.length - 1;
      out += `${prefix}${last ? '└── ' : '├── '}${artifactLabel(n.artifactType ?? undefined)}  ${shortDigest(n.digest)}${n.missing ? '  (missing)' : ''}\n`;
      walk(n.referrers, `${prefix}${last ? '    ' : '│   '}`);
    });
  };
  walk(d.referrers, '');
  if (d.referrers.length === 0) out += '(no referrers)\n';
  return out;
}

export function renderInspection(d: Inspection): string {
  const lines: string[] = [];
  // Labels padded to 12 so that a full digest (71 characters, one word) nearly fits 80 columns.
  const field = (label: string, value: string) =>
    lines.push(`${`${label}:`.padEnd(Math.max(12, label.length + 2))}${escapeControl(value)}`);
  field('Reference', d.reference);
  field('Digest', d.digest);
  field('Media type', d.mediaType);
  field('Created', formatDate(d.created));
  field('Size', formatBytes(d.size));
  if (d.artifactType !== undefined) field('Artifact type', d.artifactType);
  if (d.subject !== undefined) field('Subject', d.subject);
  field('Platforms', d.platforms.join(', ') || '-');
  if (d.config) {
    field('Author', d.config.author ?? '-');
    field('OS/Architecture', [d.config.os, d.config.architecture, d.config.variant].filter(Boolean).join('/') || '-');
    field('Docker version', d.config.dockerVersion || '-');
    field('History steps', String(d.config.historySteps));
    field('Config', d.config.digest);
    const labels = Object.entries(d.config.labels);
    if (labels.length === 0) field('Labels', '-');
    else lines.push('Labels:');
    for (const [key, value] of labels.sort(([a], [b]) => (a < b ? -1 : 1)))
      lines.push(`  ${escapeControl(key)}=${escapeControl(value)}`);
  }
  if (d.layers) {
    lines.push(`Layers (${d.layers.length}):`);
    for (const layer of d.layers) lines.push(`  ${layer.digest}  ${formatBytes(layer.size)}`);
  }
  let out = `${lines.join('\n')}\n`;
  if (d.manifests) {
    out += `\nManifests (${d.manifests.length}):\n`;
    out += indent(
      formatTable(
        ['PLATFORM', 'DIGEST', 'CREATED', 'SIZE'],
        d.manifests.map((m) => [m.platform, shortDigest(m.digest), shortDate(m.created), formatBytes(m.size)]),
      ),
    );
  }
  const rows: string[][] = [];
  const add = (nodes: ReferrerInfo[], depth: number) => {
    for (const n of nodes) {
      rows.push([
        `${'  '.repeat(depth)}${artifactLabel(n.artifactType ?? undefined)}`,
        shortDigest(n.digest),
        shortDate(n.created),
        n.missing ? 'missing' : formatBytes(n.size),
        VIA[n.via],
      ]);
      add(n.referrers, depth + 1);
    }
  };
  add(d.referrers, 0);
  if (rows.length > 0) {
    out += `\nReferrers (${rows.length}):\n`;
    out += indent(formatTable(['TYPE', 'DIGEST', 'CREATED', 'SIZE', 'FOUND VIA'], rows));
  }
  return out;
}
