// drizzle-orm lists every driver it can speak as an optional peer. pnpm resolves an optional peer whenever
// the package is anywhere in the workspace, and @electric-sql/pglite is (the `pnpm start` launcher's
// @herald/embedded-postgres): every service's drizzle-orm, and so its production install (`pnpm deploy
// --prod`), would carry PGlite. The services speak pg only, so that peer is dropped here.
module.exports = {
  hooks: {
    readPackage (manifest) {
      if (manifest.name === 'drizzle-orm') {
        if (manifest.peerDependencies) delete manifest.peerDependencies['@electric-sql/pglite']
        if (manifest.peerDependenciesMeta) delete manifest.peerDependenciesMeta['@electric-sql/pglite']
      }
      return manifest
    }
  }
}
