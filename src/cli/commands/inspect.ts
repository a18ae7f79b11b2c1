import { escapeControl } from '../../text.js';
import type { ImageInspection } from '../../registry/image-reader.js';
import type { CliContext } from '../context.js';
import { formatBytes, formatDate, formatTable, indent } from '../render.js';

interface InspectOptions {
  platform?: string;
  raw?: boolean;
  config?: boolean;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const opts = options as InspectOptions;
  const reference = args[0] as string;
  const platform = opts.platform !== undefined ? { platform: opts.platform } : {};
  if (opts.config) {
    ctx.io.out(Buffer.concat([await ctx.krill.config(reference, platform), Buffer.from('\n')]));
    return;
  }
  if (opts.raw) {
    ctx.io.out((await ctx.krill.manifest(reference, platform)).fetched.bytes);
    return;
  }
  const details = await ctx.krill.inspect(reference, platform);
  ctx.io.out(ctx.options.json ? `${JSON.stringify(details, null, 2)}\n` : renderInspection(details));
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
        d.manifests.map((m) => [m.platform, m.digest, formatDate(m.created), formatBytes(m.size)]),
      ),
    );
  }
  return out;
}
