import { NotFoundError } from '../../errors.js';
import { escapeControl } from '../../text.js';
import { findPlatform, validatePlatform } from '../../manifest/manifest.js';
import { formatReference } from '../../ref/reference.js';
import type { ImageInspection } from '../../registry/image-reader.js';
import { ImageReader } from '../../registry/image-reader.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatDate, formatTable, indent } from '../render.js';

interface InspectOptions {
  platform?: string;
  raw?: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as InspectOptions;
  const ref = ctx.parseReference(args[0] as string);
  if (opts.platform !== undefined) validatePlatform(opts.platform);
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const client = await ctx.client(ref.registry);
  const reader = new ImageReader(client, ref.repository);
  let fetched = reader.remember(await client.getManifest(ref.repository, reference));
  const name = formatReference({ ...ref, ...(ref.digest === undefined && ref.tag === undefined ? { tag: 'latest' } : {}) });

  if (opts.platform !== undefined && fetched.manifest.kind === 'index') {
    fetched = await reader.manifest(findPlatform(fetched.manifest, opts.platform, name).digest);
  }

  if (opts.raw) {
    ctx.io.out(fetched.bytes);
    return;
  }
  const details = await reader.inspect(name, fetched.digest);
  if (opts.platform !== undefined && details.manifests === undefined && details.platforms.length > 0 && !details.platforms.some((p) => p === opts.platform?.toLowerCase())) {
    throw new NotFoundError(`${name} is a single-platform image for ${details.platforms.join(', ')}, not ${opts.platform}`);
  }
  if (ctx.options.json) {
    ctx.io.out(`${JSON.stringify(details, null, 2)}\n`);
    return;
  }
  ctx.io.out(renderInspection(details));
}

export function renderInspection(d: ImageInspection): string {
  const lines: string[] = [];
  const field = (label: string, value: string) => lines.push(`${`${label}:`.padEnd(17)}${escapeControl(value)}`);
  field('Reference', d.reference);
  field('Digest', d.digest);
  field('Media type', d.mediaType);
  field('Created', formatDate(d.created));
  field('Size', formatBytes(d.size));
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
    for (const [key, value] of labels.sort(([a], [b]) => (a < b ? -1 : 1))) lines.push(`  ${escapeControl(key)}=${escapeControl(value)}`);
  }
  if (d.layers) {
    lines.push(`Layers (${d.layers.length}):`);
    for (const layer of d.layers) lines.push(`  ${layer.digest}  ${formatBytes(layer.size)}`);
  }
  let out = `${lines.join('\n')}\n`;
  if (d.manifests) {
    out += `\nManifests (${d.manifests.length}):\n`;
    out += indent(formatTable(['PLATFORM', 'DIGEST', 'CREATED', 'SIZE'], d.manifests.map((m) => [m.platform, m.digest, formatDate(m.created), formatBytes(m.size)])));
  }
  return out;
}
