// Test support: each test file gets its own Postgres schema and Redis key prefix, removed in teardown.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { dropSchema, runMigrations } from '@herald/db'
import { createRedisClient } from '@herald/streams'

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

interface Teardown { teardown (fn: () => unknown): void }

/** A fresh, migrated Postgres schema, dropped when the test ends. */
export async function useTestSchema (t: Teardown, label: string): Promise<string> {
  const schema = `t_${label.replace(/[^a-z0-9_]/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`
  await runMigrations(TEST_DATABASE_URL, schema)
  t.teardown(() => dropSchema(TEST_DATABASE_URL, schema))
  return schema
}

/** A fresh Redis key prefix; every key under it is deleted when the test ends. */
export function useTestPrefix (t: Teardown, label: string): string {
  const prefix = `t-${label.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 30)}-${randomBytes(4).toString('hex')}`
  t.teardown(() => deleteRedisPrefix(TEST_REDIS_URL, prefix))
  return prefix
}

export async function deleteRedisPrefix (url: string, prefix: string): Promise<void> {
  const redis = createRedisClient({ url })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/** Development secrets good enough for tests. */
export const TEST_SECRETS = {
  PAYHERO_CALLBACK_TOKEN: 'test-payhero-token-0123456789',
  MPESA_CALLBACK_TOKEN: 'test-mpesa-token-0123456789',
  INTERNAL_WEBHOOK_SECRETS: `whsec_${Buffer.from('herald-test-internal-secret-0123').toString('base64')}`,
  SUBSCRIBE_TOKEN_SECRET: 'test-subscribe-token-secret-0123',
  ADMIN_TOKEN: 'test-admin-token-0123456789'
}

/** A TCP port free right now on 127.0.0.1 (for a server a test starts itself, or one that is down). */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

export { captureLogLines, checkedLogStream, duplicateKeys } from './log-lines.js'
