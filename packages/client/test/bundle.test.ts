import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

t.test('the committed browser bundle is what the sources build to', async (t) => {
  const dir = t.testdir({})
  const out = `${dir}/herald-client.js`
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/bundle.js', import.meta.url))], {
    env: { ...process.env, HERALD_CLIENT_BUNDLE_OUT: out }
  })
  const fresh = readFileSync(out, 'utf8')
  const committed = readFileSync(new URL('../../../services/status-gateway/public/herald-client.js', import.meta.url), 'utf8')
  t.ok(fresh.length < 20 * 1024, `small: ${fresh.length} bytes`)
  t.notMatch(fresh, /typebox|node:/, 'no validators and no Node built-ins in the browser bundle')
  t.equal(committed, fresh, 'rebuild with `pnpm --filter @herald/client build` and commit services/status-gateway/public/herald-client.js')
})
