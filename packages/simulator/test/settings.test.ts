import t from 'tap'
import { loadTarget } from '../src/settings.ts'

const secrets = {
  PAYHERO_CALLBACK_TOKEN: 'ph', MPESA_CALLBACK_TOKEN: 'mp', INTERNAL_WEBHOOK_SECRETS: 'whsec_AAAA, whsec_BBBB', ADMIN_TOKEN: 'adm', SUBSCRIBE_TOKEN_SECRET: 's'
}

t.test('reads .data/dev-secrets.json from a parent directory when the environment is unset', async (t) => {
  const root = t.testdir({
    '.data': { 'dev-secrets.json': JSON.stringify({ ...secrets, INGEST_URL: 'http://localhost:3001/', GATEWAY_URL: 'http://localhost:3002' }) },
    nested: { deeper: {} }
  })
  const { target } = loadTarget({}, `${root}/nested/deeper`)
  t.same(target, {
    ingestUrl: 'http://localhost:3001',
    gatewayUrl: 'http://localhost:3002',
    payheroCallbackToken: 'ph',
    mpesaCallbackToken: 'mp',
    internalWebhookSecret: 'whsec_AAAA',
    adminToken: 'adm'
  })
})

t.test('the environment wins over the file, and missing settings are named', async (t) => {
  const root = t.testdir({ '.data': { 'dev-secrets.json': JSON.stringify({ ...secrets, INGEST_URL: 'http://a' }) } })
  t.equal(loadTarget({ INGEST_URL: 'http://b' }, root).target.ingestUrl, 'http://b')
  const empty = t.testdir({})
  t.throws(() => loadTarget({ HERALD_DATA_DIR: empty }, empty), /INGEST_URL, PAYHERO_CALLBACK_TOKEN, MPESA_CALLBACK_TOKEN, INTERNAL_WEBHOOK_SECRETS/)
})
