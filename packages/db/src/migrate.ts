// Applies the committed drizzle migrations to a database (and schema), creating the schema if needed.
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'

export const migrationsFolder = fileURLToPath(new URL('../drizzle', import.meta.url))

export async function runMigrations (url: string, schemaName = 'public'): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`create schema if not exists "${schemaName}"`)
    await client.query(`set search_path to "${schemaName}"`)
    await migrate(drizzle(client), { migrationsFolder, migrationsSchema: schemaName })
  } finally {
    await client.end()
  }
}

/** Drops a schema and everything in it: test teardown. */
export async function dropSchema (url: string, schemaName: string): Promise<void> {
  if (schemaName === 'public') throw new Error('refusing to drop the public schema')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(`drop schema if exists "${schemaName}" cascade`)
  } finally {
    await client.end()
  }
}
