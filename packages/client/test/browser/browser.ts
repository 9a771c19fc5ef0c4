// Chromium for browser tests (Debian's /usr/bin/chromium driven by playwright-core). The pages under test
// are the ones the status-gateway serves itself (`/`, `/demo/checkout`), so they run same-origin with it.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'

interface TestContext { teardown (fn: () => unknown): void }

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const chromiumMissing = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`
// Outside CI a machine without Chromium skips the browser tests; CI installs it, so there a missing
// browser is a failure, not a silent pass.
if (chromiumMissing !== false && process.env.CI === 'true') throw new Error(`${chromiumMissing}: CI must run the browser tests`)

export const artifactsDir = fileURLToPath(new URL('../../../../test-artifacts/', import.meta.url))

export async function launchBrowser (t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  t.teardown(() => browser.close())
  return browser
}

/** A page whose uncaught exceptions are collected, for the test to show on failure. */
async function watchedPage (browser: Browser): Promise<{ page: Page, errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(String(error)))
  return { page, errors }
}

export async function openPage (browser: Browser, url: string): Promise<{ page: Page, errors: string[] }> {
  const opened = await watchedPage(browser)
  await opened.page.goto(url)
  return opened
}

/**
 * An empty page (`<div id="root">`) at `origin` + `/probe`, answered by the browser itself: a test bundle
 * runs on the gateway's origin without the gateway having to serve test files.
 */
export async function openProbePage (browser: Browser, origin: string): Promise<{ page: Page, errors: string[] }> {
  const opened = await watchedPage(browser)
  await opened.page.route(`${origin}/probe`, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: '<!doctype html><div id="root"></div>' }))
  await opened.page.goto(`${origin}/probe`)
  return opened
}

export async function screenshot (page: Page, name: string): Promise<void> {
  mkdirSync(artifactsDir, { recursive: true })
  await page.screenshot({ path: join(artifactsDir, `${name}.png`), fullPage: true })
}
