import { mapConcurrent } from '../src/http/limiter.js';
import type { BuiltManifest } from '../test/harness/images.js';
import { Pusher, buildImage, buildIndex } from '../test/harness/images.js';
import type { TestRegistry } from '../test/harness/registry.js';

/**
 * Benchmark data, pushed over the registry API with the test harness.
 * R1: one repository, 1000 tags over 400 images; a tenth of them multi-arch (two platforms);
 *     200 images carry 3 tags, 200 carry 2.
 * R2: 2000 repositories with 10 tags each (2 images of 5 tags).
 */

const day = (n: number) => new Date(Date.UTC(2023, 0, 1) + n * 3_600_000).toISOString();

export async function seedR1(registry: TestRegistry, repository: string): Promise<{ tags: number; images: number }> {
  const pusher = new Pusher(registry);
  const images: Array<{ m: BuiltManifest; tags: string[] }> = [];
  let tagNo = 0;
  for (let i = 0; i < 400; i++) {
    const layers = ['bench shared base layer', `bench layer ${i}`];
    let m: BuiltManifest;
    if (i % 10 === 0) {
      const amd = buildImage({ created: day(i), layers, format: 'oci' });
      const arm = buildImage({
        created: day(i),
        layers: ['bench arm base', `bench arm layer ${i}`],
        format: 'oci',
        architecture: 'arm64',
        variant: 'v8',
      });
      m = buildIndex([amd, arm], { format: 'oci' });
    } else {
      m = buildImage({ created: day(i), layers });
    }
    const count = i < 200 ? 3 : 2;
    images.push({ m, tags: Array.from({ length: count }, () => `t${String(tagNo++).padStart(4, '0')}`) });
  }
  await mapConcurrent(images, 16, async ({ m, tags }) => pusher.push(repository, m, ...tags));
  return { tags: tagNo, images: images.length };
}

export async function seedR2(registry: TestRegistry, prefix: string, repositories = 2000): Promise<number> {
  const pusher = new Pusher(registry);
  const names = Array.from({ length: repositories }, (_, i) => `${prefix}/repo${String(i).padStart(4, '0')}`);
  // The shared layer is uploaded once and mounted into every repository; nothing is HEADed first
  // (everything is new), which keeps seeding 20,000 tags to about a minute.
  const seedImage = buildImage({ layers: ['r2 shared layer'] });
  const shared = seedImage.blobs[1]!;
  const seedRepo = `${prefix}/seed`;
  await pusher.push(seedRepo, seedImage, 'seed');
  await mapConcurrent(names, 16, async (name, r) => {
    await pusher.mountBlob(name, shared.digest, seedRepo);
    for (let i = 0; i < 2; i++) {
      const m = buildImage({ created: day(r * 2 + i), layers: ['r2 shared layer', `r2 ${r} ${i}`] });
      await pusher.pushTagged(
        name,
        m,
        Array.from({ length: 5 }, (_, t) => `v${i}.${t}`),
        { skipBlobs: [shared.digest], skipHead: true },
      );
    }
  });
  return repositories * 10;
}
