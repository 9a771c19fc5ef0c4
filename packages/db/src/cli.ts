// `node packages/db/dist/cli.js migrate`: applies the committed migrations to DATABASE_URL (deploy step).
import { runMigrations } from './migrate.js'

const command = process.argv[2] ?? 'migrate'
const url = process.env.DATABASE_URL
if (command !== 'migrate') {
  process.stderr.write(`unknown command ${command}; usage: herald-db migrate\n`)
  process.exit(64)
}
if (url === undefined || !/^postgres(ql)?:\/\//.test(url)) {
  process.stderr.write('invalid configuration: DATABASE_URL must be a postgres:// URL\n')
  process.exit(78)
}
try {
  await runMigrations(url, process.env.DATABASE_SCHEMA ?? 'public')
  process.stdout.write('migrations applied\n')
} catch (err) {
  process.stderr.write(`migration failed: ${(err as Error).message}\n`)
  process.exit(1)
}
