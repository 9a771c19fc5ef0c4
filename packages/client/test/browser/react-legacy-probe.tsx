// A page written for the hook Herald replaces: the options-object call with callbacks and autoConnect: false,
// bundled by the browser test. What the callbacks receive is kept on `window` for the test to read.
import { useEffect, useRef } from 'react'
import { createRoot } from 'react-dom/client'
import { useRegistrationUpdates } from '../../src/react.ts'

interface LegacyProbe { gateway: string, registrationId: number, token: string, adminToken: string }
interface Seen { updates: string[], connected: number, errors: string[], feed: string[], feedConnected: number, refusedErrors: string[] }
declare global { interface Window { legacyProbe: LegacyProbe, seen: Seen } }

window.seen = { updates: [], connected: 0, errors: [], feed: [], feedConnected: 0, refusedErrors: [] }

function Registration () {
  const probe = window.legacyProbe
  const { isConnected, latestUpdate, connect } = useRegistrationUpdates({
    registrationId: probe.registrationId,
    baseUrl: probe.gateway,
    token: probe.token,
    onUpdate: (update) => window.seen.updates.push(`${update.stage ?? ''}|${update.message}`),
    onConnected: () => { window.seen.connected++ },
    onError: (error) => window.seen.errors.push(error.code),
    autoConnect: false
  })
  const section = useRef<HTMLElement>(null)
  // Runs after the hook's own effect of the same commit: by now a stream would have been asked for.
  useEffect(() => { section.current!.dataset.mounted = 'true' }, [])
  return (
    <section id='legacy' ref={section} data-connected={String(isConnected)}>
      <button id='connect' onClick={connect}>Connect</button>
      <p id='latest'>{latestUpdate?.message}</p>
    </section>
  )
}

function AllRegistrations () {
  const probe = window.legacyProbe
  const { isConnected } = useRegistrationUpdates({
    baseUrl: probe.gateway,
    token: probe.adminToken,
    onUpdate: (update) => window.seen.feed.push(`${update.registrationId}|${update.message}`),
    onConnected: () => { window.seen.feedConnected++ }
  })
  return <section id='all' data-connected={String(isConnected)} />
}

function Refused () {
  const probe = window.legacyProbe
  useRegistrationUpdates({ registrationId: probe.registrationId, baseUrl: probe.gateway, token: 'not-a-token', onError: (error) => window.seen.refusedErrors.push(error.code) })
  return null
}

createRoot(document.getElementById('root')!).render(<><Registration /><AllRegistrations /><Refused /></>)
