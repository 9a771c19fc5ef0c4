// A React page using the hooks, bundled by the browser test: renders what the hooks return as data attributes.
import { createRoot } from 'react-dom/client'
import { useOrderStatus, useRegistrationUpdates } from '../../src/react.ts'

declare global { interface Window { heraldProbe: { gateway: string, registrationId: string, registrationToken: string, orderId: string, orderToken: string } } }

function Probe () {
  const probe = window.heraldProbe
  const registration = useRegistrationUpdates(probe.registrationId, { baseUrl: probe.gateway, token: probe.registrationToken })
  const order = useOrderStatus(probe.orderId, { baseUrl: probe.gateway, token: probe.orderToken })
  return (
    <main>
      <section id='registration' data-connected={String(registration.isConnected)} data-progress={registration.progress} data-final={registration.finalStatus ?? ''}>
        <span className={registration.isConnected ? 'live' : 'offline'}>{registration.isConnected ? 'Live' : 'Offline'}</span>
        <progress max={100} value={registration.progress} />
        <ol>{registration.stages.map((stage) => <li key={stage.name} data-stage={stage.name} data-status={stage.status}>{stage.name}</li>)}</ol>
        <p id='latest'>{registration.latestUpdate?.message}</p>
        <p id='count'>{registration.updates.length}</p>
      </section>
      <section id='order' data-connected={String(order.isConnected)} data-progress={order.progress} data-status={order.latestUpdate?.paymentStatus ?? ''} />
    </main>
  )
}

createRoot(document.getElementById('root')!).render(<Probe />)
