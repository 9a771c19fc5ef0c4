#!/usr/bin/env node
// `pnpm receive`: a local back-end that prints every update Herald sends it (signature verified).
import { readFileSync } from 'node:fs'
import { BackendReceiver, describeUpdate } from './backend-receiver.js'
import { findDevSecrets } from './settings.js'

function secret (): string {
  const fromEnv = process.env.BACKEND_WEBHOOK_SECRET
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv.split(',')[0]!.trim()
  const file = findDevSecrets(process.env)
  const saved = file === undefined ? {} : JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  if (typeof saved.BACKEND_WEBHOOK_SECRET === 'string') return saved.BACKEND_WEBHOOK_SECRET.split(',')[0]!.trim()
  process.stderr.write('BACKEND_WEBHOOK_SECRET not set and not found in .data/dev-secrets.json: start Herald with `pnpm start` first\n')
  process.exit(2)
}

const port = Number(process.env.RECEIVER_PORT ?? 3003)
const receiver = new BackendReceiver({
  secret: secret(),
  onUpdate: (update) => process.stdout.write(`[receiver] ${describeUpdate(update)}\n`)
})
const url = await receiver.listen(port)
process.stdout.write(`[receiver] listening at ${url} (set BACKEND_WEBHOOK_URLS=${url} on the ingest)\n`)
const stop = () => { receiver.close().finally(() => process.exit(0)) }
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
