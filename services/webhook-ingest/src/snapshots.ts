// The snapshots of rows come from @herald/db, shared with the gateway; kept here for the repositories' imports.
export { orderSnapshotOf, registrationSnapshotOf, type OrderRow, type RegistrationRow } from '@herald/db'
