// Where Herald runs and the secrets to talk to it: the environment first, else the dev launcher's file.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

export interface HeraldTarget {
  ingestUrl: string
  gatewayUrl: string | undefined
  payheroCallbackToken: string
  mpesaCallbackToken: string
  /** The first of INTERNAL_WEBHOOK_SECRETS: producers sign with one secret, the ingest accepts several. */
  internalWebhookSecret: string
  adminToken: string | undefined
}

const KEYS = ['INGEST_URL', 'GATEWAY_URL', 'PAYHERO_CALLBACK_TOKEN', 'MPESA_CALLBACK_TOKEN', 'INTERNAL_WEBHOOK_SECRETS', 'ADMIN_TOKEN'] as const

/** `.data/dev-secrets.json` of the nearest directory upwards that has one (or HERALD_DATA_DIR's). */
export function findDevSecrets (env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  if (env.HERALD_DATA_DIR !== undefined && env.HERALD_DATA_DIR !== '') {
    const file = join(env.HERALD_DATA_DIR, 'dev-secrets.json')
    return existsSync(file) ? file : undefined
  }
  let dir = resolve(cwd)
  while (true) {
    const file = join(dir, '.data', 'dev-secrets.json')
    if (existsSync(file)) return file
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

export function loadTarget (env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): { target: HeraldTarget, source: string } {
  const values: Partial<Record<typeof KEYS[number], string>> = {}
  const file = findDevSecrets(env, cwd)
  const saved: Record<string, unknown> = file === undefined ? {} : JSON.parse(readFileSync(file, 'utf8'))
  for (const key of KEYS) {
    const fromEnv = env[key]
    const fromFile = saved[key]
    if (fromEnv !== undefined && fromEnv !== '') values[key] = fromEnv
    else if (typeof fromFile === 'string' && fromFile !== '') values[key] = fromFile
  }
  const missing = ['INGEST_URL', 'PAYHERO_CALLBACK_TOKEN', 'MPESA_CALLBACK_TOKEN', 'INTERNAL_WEBHOOK_SECRETS']
    .filter((key) => values[key as typeof KEYS[number]] === undefined)
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} not set and not found in .data/dev-secrets.json: start Herald with \`pnpm start\` or set them in the environment`)
  }
  const secret = (values.INTERNAL_WEBHOOK_SECRETS as string).split(',')[0]!.trim()
  return {
    source: file === undefined ? 'environment' : `environment and ${file}`,
    target: {
      ingestUrl: (values.INGEST_URL as string).replace(/\/$/, ''),
      gatewayUrl: values.GATEWAY_URL?.replace(/\/$/, ''),
      payheroCallbackToken: values.PAYHERO_CALLBACK_TOKEN as string,
      mpesaCallbackToken: values.MPESA_CALLBACK_TOKEN as string,
      internalWebhookSecret: secret,
      adminToken: values.ADMIN_TOKEN
    }
  }
}
