import { isNotFound } from '../../errors.js';
import { mapConcurrent } from '../../http/limiter.js';
import { DEFAULT_DOCKER_HOST, Engine, canonicalName } from '../../engine/engine.js';
import type { CompareRow, RemoteTags } from '../../engine/compare.js';
import { compareWithLocal, compareWithRegistry } from '../../engine/compare.js';
import type { RegistryClient } from '../../registry/client.js';
import type { SyncSpec } from '../../sync/spec.js';
import { destinationRepository, parseSyncTarget } from '../../sync/spec.js';
import { selectTags } from '../../sync/sync.js';
import type { CliContext } from '../context.js';
import { formatDate, formatTable, indent, shortDigest } from '../render.js';

/** Registry side of a spec: listed tags (filtered) with digests, and assumed tags. */
export async function readRemote(client: RegistryClient, spec: SyncSpec, concurrency: number): Promise<RemoteTags> {
  const { tags, listed } = await selectTags(client, spec);
  const remote: RemoteTags = { listed: new Map(), assumed: new Map() };
  await mapConcurrent(tags, concurrency, async (tag) => {
    const digest = (await client.digestOf(spec.source.repository, tag)) ?? null;
    if (listed.has(tag) && digest !== null) remote.listed.set(tag, digest);
    else remote.assumed.set(tag, digest);
  });
  return remote;
}

export async function execute(ctx: CliContext, args: unknown[], options: Record<string, unknown>): Promise<void> {
  const plainHttp = ctx.options.plainHttp ?? false;
  const specs = (args[0] as string[]).map((s) => ctx.parseSpec(s));
  const withTarget = typeof options.with === 'string' ? parseSyncTarget(options.with, { plainHttp }) : undefined;
  if (withTarget) ctx.setDestination(withTarget.registry);
  const engine = withTarget ? undefined : new Engine(ctx.io.env.DOCKER_HOST || DEFAULT_DOCKER_HOST);
  try {
    const local = engine ? (await engine.ping(), await engine.listImages()) : [];
    const results: Array<{ name: string; rows: CompareRow[] }> = [];
    for (const spec of specs) {
      const client = await ctx.client(spec.source.registry, withTarget ? { role: 'source' } : {});
      const remote = await readRemote(client, spec, ctx.options.concurrency);
      let rows: CompareRow[];
      if (withTarget) {
        const other = await ctx.client(withTarget.registry, { role: 'destination' });
        const repository = destinationRepository(withTarget, spec.source.repository);
        const there = new Map<string, string>();
        let otherTags: string[] = [];
        try {
          otherTags = await other.listTags(repository);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
        const wanted = otherTags.filter((t) => !spec.filter || spec.filter.test(t) || remote.listed.has(t) || remote.assumed.has(t));
        await mapConcurrent(wanted, ctx.options.concurrency, async (tag) => {
          const digest = await other.digestOf(repository, tag);
          if (digest) there.set(tag, digest);
        });
        rows = compareWithRegistry(remote, there);
      } else {
        rows = compareWithLocal(canonicalName(spec.source), remote, local);
      }
      results.push({ name: canonicalName(spec.source), rows });
    }
    if (ctx.options.json) {
      ctx.io.out(`${JSON.stringify(results.length === 1 ? results[0]!.rows : results.map((r) => ({ repository: r.name, tags: r.rows })), null, 2)}\n`);
      return;
    }
    for (const { name, rows } of results) {
      ctx.io.out(`${name}\n`);
      ctx.io.out(
        indent(
          formatTable(
            ['TAG', 'STATE', 'DIGEST', 'LOCAL ID', 'CREATED'],
            rows.map((r) => [r.tag, r.state, r.digest ? shortDigest(r.digest) : '-', r.localId ? shortDigest(r.localId) : '-', formatDate(r.created)]),
            { header: ctx.style.header },
          ),
        ),
      );
    }
  } finally {
    await engine?.close();
  }
}
