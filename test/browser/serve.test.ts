import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isolatedEnv } from '../harness/cli.js';
import { Pusher, buildImage, buildIndex } from '../harness/images.js';
import type { TestRegistry } from '../harness/registry.js';
import { startRegistry } from '../harness/registry.js';
import { runKrill } from '../harness/run-cli.js';
import { startServe } from '../harness/serve.js';

// krill serve in Debian's Chromium (playwright-core drives /usr/bin/chromium; nothing is
// downloaded) against the real registry: browse, compare the sizes with `krill du --json`, markup
// from the registry shown as text, a plan applied without and with the token, undo, a registry
// going down. Screenshots of each page go to .test-output/screenshots.
const SHOTS = join(process.cwd(), '.test-output', 'screenshots');
const HOSTILE = '<img src=x onerror=alert(1)>\u001b[31mred';

let registry: TestRegistry;
let pusher: Pusher;
let serve: Awaited<ReturnType<typeof startServe>>;
let browser: Browser;
let page: Page;
const dialogs: string[] = [];
const env = isolatedEnv();

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  registry = await startRegistry();
  pusher = new Pusher(registry);
  for (let i = 1; i <= 4; i++)
    await pusher.push(
      'apps/web',
      buildImage({
        created: `2024-0${i}-01T00:00:00Z`,
        layers: ['shared base', `web ${i}`.repeat(100 * i)],
        labels: { version: `1.${i}` },
      }),
      `1.${i}.0`,
    );
  await pusher.push(
    'apps/web',
    buildImage({
      created: '2024-06-01T00:00:00Z',
      layers: ['shared base', 'evil'],
      labels: { title: HOSTILE },
      author: HOSTILE,
    }),
    'hostile',
  );
  const platforms = ['amd64', 'arm64'].map((architecture) =>
    buildImage({ architecture, layers: ['shared base', `api ${architecture}`.repeat(900)] }),
  );
  await pusher.push('apps/api', buildIndex(platforms), '2.0');
  await pusher.push('tools/ci', buildImage({ layers: ['ci only'.repeat(2000)] }), 'latest');
  serve = await startServe([registry.host], env);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // As root in a sandbox, with this machine's closed network: no sandbox, no background traffic.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await serve?.stop();
  await registry?.stop();
});

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

describe('krill serve in Chromium', () => {
  it('shows the catalog with the sizes krill du computes, sortable and searchable', async () => {
    await page.goto(`${serve.url}/`);
    await expect.poll(() => page.locator('#catalog tbody tr').count()).toBe(3);
    const du = JSON.parse((await runKrill(['du', registry.host, '--json'], { env })).stdout) as {
      repositories: Array<{ repository: string; exclusiveBytes: number; totalBytes: number }>;
    };
    for (const r of du.repositories) {
      const row = page.locator('#catalog tbody tr', { hasText: r.repository });
      expect(await row.locator('td').nth(2).getAttribute('data-value')).toBe(String(r.exclusiveBytes));
      expect(await row.locator('td').nth(4).getAttribute('data-value')).toBe(String(r.totalBytes));
    }
    await shot('catalog');
    await page.fill('input.filter', 'tools');
    expect(await page.locator('#catalog tbody tr:visible').count()).toBe(1);
    await page.fill('input.filter', '');
    await page.click('#catalog th:has-text("Total")');
    const first = await page.locator('#catalog tbody tr').first().locator('td').nth(4).getAttribute('data-value');
    expect(Number(first)).toBe(Math.max(...du.repositories.map((r) => r.totalBytes)));
  });

  it('browses a repository and an image; markup and escape sequences from the registry are text', async () => {
    await page.click('#catalog a:has-text("apps/web")');
    await expect.poll(() => page.locator('#tags tbody tr').count()).toBe(5);
    await shot('repository');
    await page.click('#tags a:has-text("hostile")');
    await page.waitForSelector('h1:has-text("hostile")');
    await shot('image');
    const text = await page.locator('main').innerText();
    expect(text).toContain('<img src=x onerror=alert(1)>\\x1b[31mred');
    expect(await page.locator('main img').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('reviews a plan; applying without the token is refused and deletes nothing', async () => {
    await page.goto(`${serve.url}/cleanup?repository=apps%2Fweb`);
    await page.fill('input[name=keep]', '2');
    await page.click('button:has-text("Show the plan")');
    await page.waitForSelector('#deleted-count');
    expect(await page.locator('#deleted-count').innerText()).toBe('3');
    await shot('plan');
    await page.check('input[name=confirm]');
    await page.click('button:has-text("Apply the plan")');
    await page.waitForSelector('h1:has-text("Refused")');
    expect(await pusher.tags('apps/web')).toEqual(['1.1.0', '1.2.0', '1.3.0', '1.4.0', 'hostile']);
  });

  it('with the token, applies exactly the plan, then undoes it from the page', async () => {
    await page.goto(`${serve.url}/?token=${serve.token}`);
    expect(page.url()).toBe(`${serve.url}/`); // the token left the address bar
    await page.goto(`${serve.url}/cleanup?repository=apps%2Fweb`);
    await page.fill('input[name=keep]', '2');
    await page.click('button:has-text("Show the plan")');
    const planned = await page.locator('table.plan tr:has(td.delete) td.tag').allInnerTexts();
    expect(planned.sort()).toEqual(['1.1.0', '1.2.0', '1.3.0']);
    await page.check('input[name=confirm]');
    await page.click('button:has-text("Apply the plan")');
    await page.waitForSelector('#applied-summary');
    expect(await page.locator('#applied-summary').innerText()).toMatch(/^Deleted 3,/);
    await shot('applied');
    expect(await pusher.tags('apps/web')).toEqual(['1.4.0', 'hostile']);
    await page.click('button:has-text("Undo")');
    await page.waitForSelector('#undone');
    await shot('undone');
    expect(await pusher.tags('apps/web')).toEqual(['1.1.0', '1.2.0', '1.3.0', '1.4.0', 'hostile']);
  });

  it('shows an error page while the registry is down, and the pages again once it is back', async () => {
    await registry.restart(async () => {
      await page.goto(`${serve.url}/repository?name=apps%2Fweb`);
      expect(await page.locator('h1').innerText()).toBe('The registry did not answer');
      await shot('registry-down');
    });
    await page.goto(`${serve.url}/repository?name=apps%2Fweb`);
    await expect.poll(() => page.locator('#tags tbody tr').count()).toBe(5);
  });

  it('follows the system colour scheme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto(`${serve.url}/`);
    const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
    expect(background).toBe('rgb(18, 21, 27)');
    await shot('catalog-dark');
  });
});
