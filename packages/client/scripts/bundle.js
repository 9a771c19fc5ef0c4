// Bundles the client into one small ES module for pages without a build step (the gateway's dashboard
// and demo checkout load it from /herald-client.js).
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

const here = (path) => fileURLToPath(new URL(path, import.meta.url))
const out = process.env.HERALD_CLIENT_BUNDLE_OUT ?? here('../../../services/status-gateway/public/herald-client.js')

const result = await build({
  entryPoints: [here('../dist/index.js')],
  outfile: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  // Generated and minified: not for the linter (the sources are linted in packages/client).
  banner: { js: '/* eslint-disable */' },
  metafile: true,
  logLevel: 'warning'
})
const bytes = Object.values(result.metafile.outputs)[0].bytes
process.stdout.write(`herald-client.js: ${(bytes / 1024).toFixed(1)} KiB\n`)
