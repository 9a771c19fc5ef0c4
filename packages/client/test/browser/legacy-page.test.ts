// A registration page written for the design Herald replaces, unchanged but for the URL and the token:
// the browser's own EventSource and the old message handling, in Chromium against a real Herald.
import t from 'tap'
import { startHerald } from '../herald.ts'
import { chromiumMissing, launchBrowser, openProbePage, screenshot } from './browser.ts'

/** The old page's script: PENDING shows `stage: message`, any other status is the verdict (it refreshed). */
const OLD_PAGE_SCRIPT = `
  const seen = window.seen = { lines: [], finals: [], connected: [], pings: [], errors: 0 }
  const progress = document.createElement('ol')
  progress.id = 'progress'
  document.body.append(progress)
  const source = new EventSource('/api/registrations/updates/stream?registrationId=42&token=' + encodeURIComponent(window.subscribeToken))
  source.onerror = () => { seen.errors++ }
  source.onmessage = (event) => {
    const message = JSON.parse(event.data)
    if (message.type === 'connected') seen.connected.push(message.timestamp)
    if (message.type === 'ping') seen.pings.push(message.timestamp)
    if (message.type !== 'update') return
    const update = message.data
    if (update.status === 'PENDING') {
      const line = update.stage + ': ' + update.message
      seen.lines.push(line)
      const item = document.createElement('li')
      item.textContent = line
      progress.append(item)
    } else {
      seen.finals.push(update.status + ' ' + update.message + ' ' + (update.stage === undefined ? 'no stage' : update.stage))
      document.body.dataset.final = update.status
    }
  }
`

if (chromiumMissing !== false) {
  t.plan(0, chromiumMissing)
} else {
  t.test('an old registration page with EventSource shows every stage and exactly one final status', async (t) => {
    const herald = await startHerald(t)
    const browser = await launchBrowser(t)
    const WAIT = { timeout: 30_000 }
    const send = async (body: Parameters<typeof herald.producer.registrationEvent>[1]) => {
      const answer = await herald.producer.registrationEvent('42', body)
      if (answer.body === undefined) throw new Error(`refused: ${answer.status} ${answer.code}`)
      return answer.body
    }
    const first = await send({ type: 'stage', stage: 'duplicate_check', status: 'started' })

    const { page, errors } = await openProbePage(browser, herald.gatewayUrl)
    await page.evaluate((token) => { (window as any).subscribeToken = token }, first.subscribeToken)
    await page.addScriptTag({ content: OLD_PAGE_SCRIPT })
    const seen = () => page.evaluate(() => (window as any).seen as { lines: string[], finals: string[], connected: unknown[], pings: unknown[], errors: number })
    await page.waitForFunction(() => (window as any).seen.connected.length === 1, undefined, WAIT)
    const connectedAt = (await seen()).connected[0]
    t.equal(typeof connectedAt, 'number', 'connected carries epoch milliseconds')
    t.ok(Math.abs((connectedAt as number) - Date.now()) < 60_000, 'close to now')

    // The page opened after the first stage: like the old design it shows what happens from now on.
    const steps: Array<[string, 'started' | 'completed', string | undefined]> = [
      ['duplicate_check', 'completed', 'No duplicate found'],
      ['t24_lookup', 'started', undefined],
      ['t24_lookup', 'completed', 'Found 5 accounts'],
      ['status_update', 'started', 'Updating status'],
      ['status_update', 'completed', undefined]
    ]
    for (const [stage, status, message] of steps) {
      await send({ type: 'stage', stage, status, ...(message === undefined ? {} : { message }) })
      const expected = `${stage}: ${message ?? `${status}: ${stage}`}`
      await page.waitForFunction((line) => (window as any).seen.lines.at(-1) === line, expected, WAIT)
      t.equal(await page.getAttribute('body', 'data-final'), null, `${stage} ${status} is not taken for the verdict`)
    }
    await send({ type: 'final', status: 'APPROVED', message: 'Customer validated successfully', details: { accountsFound: 5 } })
    await page.waitForSelector('body[data-final=APPROVED]', { ...WAIT, state: 'attached' })
    // The same verdict again is a duplicate at the ingest: nothing new reaches the page.
    t.equal((await send({ type: 'final', status: 'APPROVED', message: 'Customer validated successfully' })).duplicate, true)
    // A ping written after the verdict: anything sent before it has been read by the page.
    const pings = (await seen()).pings.length
    await page.waitForFunction((n) => (window as any).seen.pings.length > n, pings, WAIT)

    const result = await seen()
    t.same(result.lines, [
      'duplicate_check: No duplicate found',
      't24_lookup: started: t24_lookup',
      't24_lookup: Found 5 accounts',
      'status_update: Updating status',
      'status_update: completed: status_update'
    ], 'every stage, in order')
    t.same(result.finals, ['APPROVED Customer validated successfully no stage'], 'exactly one final status, without a stage')
    t.ok(result.pings.every((at) => typeof at === 'number'), 'pings carry epoch milliseconds')
    t.equal(result.errors, 0, 'the stream never failed')
    await screenshot(page, 'legacy-registration-page')
    t.same(errors, [])
  })
}
