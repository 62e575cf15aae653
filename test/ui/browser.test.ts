import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORDS } from '../e2e-serve/harness.js';
import { startUiFixture, type UiFixture } from './fixture.js';

/**
 * The web UI in a real browser: Debian's chromium driven by playwright-core (nothing
 * downloaded). One launch, few page loads. Screenshots go to test/.screenshots/.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(import.meta.dirname, '..', '.screenshots');
const T = 180_000;

let f: UiFixture;
let browser: Browser;
const dialogs: string[] = [];

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true });
  f = await startUiFixture();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, T);

afterAll(async () => {
  await browser?.close();
  await f?.close();
});

async function newPage(options: { colorScheme?: 'light' | 'dark'; mobile?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({
    viewport: options.mobile ? { width: 390, height: 844 } : { width: 1280, height: 860 },
    colorScheme: options.colorScheme ?? 'light',
    ...(options.mobile ? { deviceScaleFactor: 2, isMobile: true, hasTouch: true } : {}),
  });
  const page = await context.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return page;
}

async function signIn(page: Page, user: keyof typeof PASSWORDS): Promise<void> {
  await page.goto(`${f.serve.url}/ui/signin`);
  await page.fill('#username', user);
  await page.fill('#password', PASSWORDS[user]);
  await Promise.all([page.waitForURL(/\/ui\/$/), page.click('button[type=submit].primary')]);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const repoNames = (page: Page) => page.locator('td.name a').allTextContents();

describe.skipIf(!existsSync(CHROMIUM))('web UI in chromium', () => {
  it('anonymous: repositories -> repository -> image -> platform child -> referrer; search; keyboard', async () => {
    const page = await newPage();
    await page.goto(`${f.serve.url}/`);
    expect(await repoNames(page)).toEqual(['public/app', 'public/tools']);
    await shot(page, 'repositories');

    await Promise.all([page.waitForURL(/\/ui\/repo\?/), page.click('a:text-is("public/app")')]);
    expect(await page.locator('h1').textContent()).toBe('public/app');
    expect(await page.locator('th.line').allTextContents()).toEqual(['Release line 1.9', 'Release line 1.8', 'Other tags']);
    expect(await page.locator('a:text-is("Delete")').count()).toBe(0);
    await shot(page, 'repository');

    await Promise.all([page.waitForURL(/\/ui\/image\?/), page.click('td.name a:text-is("1.9.2")')]);
    expect(await page.locator('h1').textContent()).toBe('public/app:1.9.2');
    await shot(page, 'image-index');

    await Promise.all([page.waitForURL(/ref=sha256/), page.click('a:text-is("linux/arm64/v8")')]);
    expect(await page.locator('code.digest').textContent()).toBe(f.index.children[1]!.digest);
    await page.goBack();
    // Pick the signature among the referrers (an SBOM is listed too).
    await Promise.all([page.waitForURL(new RegExp(f.signature.slice(7, 20))), page.click(`a.referrer[href*="${f.signature.slice(7, 20)}"]`)]);
    expect(await page.locator('h1').textContent()).toMatch(/^public\/app@sha256:/);

    // keyboard: "/" focuses the search box; Enter searches; Tab reaches the result; Enter opens it
    await page.keyboard.press('/');
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.type)).toBe('search');
    await page.keyboard.type('tool');
    await Promise.all([page.waitForURL(/\?q=tool/), page.keyboard.press('Enter')]);
    expect(await repoNames(page)).toEqual(['public/tools']);
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate(() => document.activeElement?.textContent)) === 'public/tools') break;
    }
    await Promise.all([page.waitForURL(/\/ui\/repo\?name=public%2Ftools/), page.keyboard.press('Enter')]);
    await page.context().close();
  }, T);

  it('reader signs in: sees team/**, payloads stay inert, no delete', async () => {
    const page = await newPage({ colorScheme: 'dark' });
    await signIn(page, 'reader');
    expect(await repoNames(page)).toEqual(['public/app', 'public/tools', 'team/app']);
    await page.goto(`${f.serve.url}/ui/image?name=team%2Fapp&ref=v1.0.0`);
    expect(await page.locator('a:has-text("Delete")').count()).toBe(0);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('img').count()).toBe(0);
    await shot(page, 'image-xss-dark');
    await page.goto(`${f.serve.url}/ui/image?name=public%2Fapp&ref=1.9.2`);
    await shot(page, 'image-index-dark');
    await page.context().close();
  }, T);

  it('deleter: delete a tag with a confirmation that names it; on a phone', async () => {
    const page = await newPage({ mobile: true });
    await signIn(page, 'deleter');
    await page.goto(`${f.serve.url}/ui/repo?name=team%2Fapp`);
    await shot(page, 'repository-phone');
    await Promise.all([page.waitForURL(/\/ui\/delete\?/), page.click('a:text-is("Delete")')]);
    expect(await page.locator('ul.gone li').allTextContents()).toEqual(['v1.0.0']);
    await shot(page, 'delete-confirm');
    await Promise.all([page.waitForURL(/\/ui\/repo\?name=team%2Fapp$/), page.click('button[value=tag]')]);
    expect(await page.locator('td.muted').textContent()).toBe('No tags.');
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    await page.context().close();
  }, T);

  it('no dialog fired anywhere', () => {
    expect(dialogs).toEqual([]);
  });
});
