// The live dashboard: every registration and payment as it happens, through the client SDK.
import {
  followAllOrders, followAllRegistrations, registrationProgress, isFinalRegistrationStatus, updatesFromSnapshot
} from './herald-client.js'

const params = new URLSearchParams(window.location.search)
// This page talks to the gateway that served it, never to one named in its URL: a link with another
// gateway would otherwise hand that site the admin token (the page's CSP says `connect-src 'self'` too).
const baseUrl = ''
const TOKEN_KEY = 'herald.adminToken'
const MAX_ACTIVITY = 300
const MAX_CARDS = 60
const MAX_ORDERS = 200

const $ = (id) => document.getElementById(id)
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue
    if (name === 'text') node.textContent = value
    // Through the CSSOM: the page's Content-Security-Policy refuses style attributes, not this.
    else if (name === 'style') node.style.cssText = value
    else node.setAttribute(name, value)
  }
  node.append(...children)
  return node
}
// ISO strings (snapshots) and epoch milliseconds (SSE messages) alike.
const clock = (at) => new Date(at).toLocaleTimeString([], { hour12: false })
const money = (amount, currency) => `${currency} ${Number(amount).toLocaleString()}`

function toneOf (status) {
  if (['completed', 'APPROVED', 'COMPLETED'].includes(status)) return 'ok'
  if (['failed', 'cancelled', 'FAILED', 'REJECTED', 'DUPLICATE'].includes(status)) return 'bad'
  if (status === 'processing') return 'warn'
  return 'busy'
}
const badge = (status) => el('span', { class: 'badge', 'data-tone': toneOf(status), text: status })

// The token comes once in the URL (from `pnpm start`'s output), leaves the address bar at once and then
// lives in this tab only; it travels in Authorization headers, never in a URL the page fetches.
let token = params.get('token') ?? sessionStorage.getItem(TOKEN_KEY)
if (params.has('token')) {
  sessionStorage.setItem(TOKEN_KEY, params.get('token'))
  params.delete('token')
  window.history.replaceState(null, '', `${window.location.pathname}${params.size > 0 ? `?${params}` : ''}`)
}

/** What the page knows; the DOM is redrawn from it (cheap at these sizes, and filters just re-render). */
const registrations = new Map() // id -> { updates, updatedAt }
const orders = new Map() // id -> snapshot
const filters = { id: '', status: '', orders: true, registrations: true }
let eventsSeen = 0

/** An activity row of a registration update: the stage's own status while it runs, else the verdict. */
function activityOf (update) {
  if (update.status !== 'PENDING') return { status: update.status, message: update.message }
  return { status: update.stageStatus, message: `${update.stage.replaceAll('_', ' ')}: ${update.message}` }
}

function registrationStatus (entry) {
  const progress = registrationProgress(entry.updates)
  return { progress, status: progress.finalStatus ?? 'in_progress' }
}

function matches (kind, id, status) {
  if (kind === 'order' && !filters.orders) return false
  if (kind === 'registration' && !filters.registrations) return false
  if (filters.id !== '' && !id.toLowerCase().includes(filters.id.toLowerCase())) return false
  if (filters.status !== '' && status !== filters.status) return false
  return true
}

function renderRegistrations () {
  const list = [...registrations.entries()]
    .sort((a, b) => b[1].updatedAt - a[1].updatedAt)
    .filter(([id, entry]) => matches('registration', id, registrationStatus(entry).status))
    .slice(0, MAX_CARDS)
  $('registrations').replaceChildren(...list.map(([id, entry]) => {
    const { progress } = registrationStatus(entry)
    const latest = progress.latest
    return el('article', { class: 'card', 'data-registration-id': id, 'data-final': progress.finalStatus ?? undefined },
      el('header', {}, el('span', { text: id }), progress.finalStatus ? badge(progress.finalStatus) : el('span', { class: 'muted', text: `${progress.percent}%` })),
      el('div', { class: 'bar', role: 'progressbar', 'aria-valuenow': String(progress.percent), 'aria-valuemin': '0', 'aria-valuemax': '100' },
        el('span', { style: `width: ${progress.percent}%` })),
      el('ol', { class: 'stages' }, ...progress.stages.map((stage) =>
        el('li', { 'data-stage': stage.name, 'data-status': stage.status, title: stage.message ?? '', text: stage.name.replaceAll('_', ' ') }))),
      el('div', { class: 'message', text: latest ? latest.message : '' }))
  }))
}

function renderOrders (flashId) {
  const list = [...orders.values()]
    .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
    .filter((order) => matches('order', order.orderId, order.paymentStatus))
    .slice(0, MAX_ORDERS)
  $('orders').replaceChildren(...list.map((order) => el('tr', { 'data-order-id': order.orderId, 'data-payment-status': order.paymentStatus, class: order.orderId === flashId ? 'flash' : undefined },
    el('td', { text: order.orderNumber, title: order.orderId }),
    el('td', { text: money(order.totalAmount, order.currency) }),
    el('td', { text: order.payment.provider ?? '' }),
    el('td', {}, badge(order.paymentStatus)),
    el('td', { text: order.payment.outcome ?? '', title: order.payment.resultDesc ?? '' }),
    el('td', { text: clock(order.updatedAt) }))))
}

function addActivity (kind, id, status, message, at) {
  eventsSeen++
  $('stat-events').textContent = String(eventsSeen)
  const row = el('li', { class: 'flash', 'data-kind': kind, 'data-entity-id': id, 'data-status': status },
    el('time', { text: clock(at) }),
    el('span', {}, el('b', { text: `${kind === 'order' ? 'payment' : 'registration'} ${id}` }), el('div', { class: 'message', text: message })),
    badge(status))
  row.hidden = !matches(kind, id, kind === 'registration' && !isFinalRegistrationStatus(status) ? 'in_progress' : status)
  $('activity').prepend(row)
  while ($('activity').children.length > MAX_ACTIVITY) $('activity').lastElementChild.remove()
}

function applyFiltersToActivity () {
  for (const row of $('activity').children) {
    const { kind, entityId, status } = row.dataset
    row.hidden = !matches(kind, entityId, kind === 'registration' && !isFinalRegistrationStatus(status) ? 'in_progress' : status)
  }
}

function setFeed (name, state, title) {
  const node = $(`feed-${name}`)
  node.dataset.state = state
  node.title = title ?? ''
}

function feedHandlers (name) {
  return {
    onConnectionChange: (connected) => setFeed(name, connected ? 'live' : 'reconnecting'),
    onError: (error, willRetry) => {
      if (error.status === 404) return setFeed(name, 'unavailable', 'This gateway does not offer this feed')
      setFeed(name, willRetry ? 'reconnecting' : 'stopped', `${error.code}: ${error.message}`)
      if (!willRetry && (error.status === 401 || error.status === 403)) showLogin('That token was refused: enter the admin token.')
    }
  }
}

let unsubscribes = []
function connect () {
  for (const stop of unsubscribes) stop()
  const options = { baseUrl, token }
  unsubscribes = [
    followAllRegistrations({
      ...feedHandlers('registrations'),
      onUpdate (update) {
        const entry = registrations.get(update.registrationId) ?? { updates: [], updatedAt: 0 }
        entry.updates.push(update)
        entry.updatedAt = Date.now()
        registrations.set(update.registrationId, entry)
        const activity = activityOf(update)
        addActivity('registration', update.registrationId, activity.status, activity.message, update.timestamp)
        renderRegistrations()
      },
      onReset (snapshot) {
        if (snapshot !== null) {
          registrations.set(snapshot.registrationId, { updates: updatesFromSnapshot(snapshot), updatedAt: Date.now() })
          renderRegistrations()
        } else {
          // The all-registrations feed does not replay: fill in what the open registrations missed.
          resyncRegistrations()
        }
      }
    }, options),
    followAllOrders({
      ...feedHandlers('orders'),
      onUpdate (order) {
        const known = orders.get(order.orderId)
        if (known !== undefined && known.version >= order.version) return
        orders.set(order.orderId, order)
        const detail = order.payment.resultDesc ?? (order.paymentStatus === 'pending' ? 'awaiting payment' : '')
        addActivity('order', order.orderId, order.paymentStatus, `${order.orderNumber} · ${money(order.totalAmount, order.currency)} · ${detail}`, order.updatedAt)
        renderOrders(order.orderId)
      },
      onReset (snapshot) {
        if (snapshot !== null) orders.set(snapshot.orderId, snapshot)
        else resyncOrders()
        renderOrders()
      }
    }, options)
  ]
  pollStats()
}

async function readSnapshot (path) {
  const response = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' })
  return response.ok ? response.json() : null
}

async function resyncRegistrations () {
  const open = [...registrations.entries()].filter(([, entry]) => registrationStatus(entry).status === 'in_progress')
  await Promise.all(open.map(async ([id]) => {
    const snapshot = await readSnapshot(`/api/registrations/${encodeURIComponent(id)}`).catch(() => null)
    if (snapshot === null) return
    const entry = registrations.get(id)
    const known = entry.updates.length
    entry.updates = updatesFromSnapshot(snapshot)
    for (const update of entry.updates.slice(known)) {
      const activity = activityOf(update)
      addActivity('registration', id, activity.status, `${activity.message} (caught up)`, update.timestamp)
    }
  }))
  renderRegistrations()
}

async function resyncOrders () {
  const open = [...orders.values()].filter((order) => !['completed', 'failed', 'cancelled'].includes(order.paymentStatus))
  await Promise.all(open.map(async (order) => {
    const snapshot = await readSnapshot(`/api/orders/${encodeURIComponent(order.orderId)}`).catch(() => null)
    if (snapshot !== null && snapshot.version > order.version) orders.set(order.orderId, snapshot)
  }))
  renderOrders()
}

/** Waiter counts: the gateway's JSON stats when it has them, else its Prometheus gauges. */
let statsTimer
async function pollStats () {
  clearTimeout(statsTimer)
  try {
    const headers = { authorization: `Bearer ${token}` }
    let waiters
    let streams
    const stats = await fetch(`${baseUrl}/api/stats`, { headers, cache: 'no-store' })
    if (stats.ok) {
      const body = await stats.json()
      waiters = body.longPollWaiters ?? body.waiters
      streams = body.sseStreams ?? body.streams
      renderBackendEndpoints(body.backendEndpoints ?? [])
      renderActivity(body.activity)
    } else {
      renderActivity(undefined)
      const text = await (await fetch(`${baseUrl}/metrics`, { cache: 'no-store' })).text()
      waiters = sumGauge(text, 'herald_gateway_active_waiters')
      streams = sumGauge(text, 'herald_gateway_active_sse_streams')
    }
    $('stat-waiters').textContent = waiters === undefined ? '–' : String(waiters)
    $('stat-streams').textContent = streams === undefined ? '–' : String(streams)
  } catch {
    // The feeds show the connection state; stats just keep their last value.
  }
  statsTimer = setTimeout(pollStats, 2000)
}

const SVG = 'http://www.w3.org/2000/svg'
const CHART = { width: 360, height: 80 }
const svgEl = (tag, attrs) => {
  const node = document.createElementNS(SVG, tag)
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value)
  return node
}
/** A round top for the y axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceTop (max) {
  if (!(max > 0)) return 1
  const power = 10 ** Math.floor(Math.log10(max))
  return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= max)
}
const rounded = (value) => value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10)

/**
 * A line per series over the window (x: time, right edge = the newest point; y: 0 to a round top), drawn as
 * plain SVG paths; a point without a value (null) breaks its line rather than drawing it as zero.
 */
function drawChart (svg, activity, series, area) {
  const points = activity.points
  const right = points.at(-1)?.at ?? 0
  const left = right - activity.windowSeconds * 1000
  const top = niceTop(Math.max(0, ...series.flatMap(({ value }) => points.map(value).filter((v) => v !== null))))
  const x = (at) => ((at - left) / (right - left)) * CHART.width
  const y = (v) => CHART.height - (v / top) * CHART.height
  const children = [0.5, 1].map((share) => svgEl('line', { class: 'grid', x1: 0, x2: CHART.width, y1: y(top * share), y2: y(top * share) }))
  children.push(svgEl('line', { class: 'grid', x1: 0, x2: CHART.width, y1: CHART.height, y2: CHART.height }))
  for (const { name, value } of series) {
    let d = ''
    let drawn = 0
    let pen = false
    for (const point of points) {
      const v = value(point)
      if (v === null) { pen = false; continue }
      d += `${pen ? 'L' : 'M'}${x(point.at).toFixed(1)},${y(v).toFixed(1)}`
      pen = true
      drawn++
    }
    if (area && drawn > 1) {
      const first = points.find((point) => value(point) !== null)
      children.push(svgEl('path', { 'data-series': `${name}-area`, d: `${d}L${x(right).toFixed(1)},${CHART.height}L${x(first.at).toFixed(1)},${CHART.height}Z` }))
    }
    children.push(svgEl('path', { 'data-series': name, 'data-points': String(drawn), d }))
  }
  svg.replaceChildren(...children)
  return top
}

/** The two charts from the stats' rolling window; hidden when this gateway does not report one. */
function renderActivity (activity) {
  $('charts').hidden = activity === undefined
  if (activity === undefined) return
  const rateTop = drawChart($('chart-rate'), activity, [{ name: 'rate', value: (p) => p.eventsPerSecond }], true)
  const ms = (seconds) => seconds === null ? null : seconds * 1000
  const latencyTop = drawChart($('chart-latency'), activity, [
    { name: 'p50', value: (p) => ms(p.latencyP50Seconds) },
    { name: 'p99', value: (p) => ms(p.latencyP99Seconds) }
  ], false)
  $('top-rate').textContent = `top ${rounded(rateTop)}/s`
  $('top-latency').textContent = `top ${rounded(latencyTop)} ms`
  // The figures beside the titles: the last few seconds, so a single quiet step does not read as zero.
  const recent = activity.points.slice(-5)
  const rate = recent.length === 0 ? undefined : recent.reduce((sum, p) => sum + p.eventsPerSecond, 0) / recent.length
  $('now-rate').textContent = rate === undefined ? '–' : rounded(rate)
  const delivered = activity.points.findLast((p) => p.latencyP50Seconds !== null)
  $('now-p50').textContent = delivered === undefined ? '–' : `${rounded(ms(delivered.latencyP50Seconds))} ms`
  $('now-p99').textContent = delivered === undefined ? '–' : `${rounded(ms(delivered.latencyP99Seconds))} ms`
}

/** One dot per back-end webhook endpoint: healthy, failing or idle, with what it has not taken yet. */
function renderBackendEndpoints (endpoints) {
  const panel = $('backend-endpoints')
  panel.hidden = endpoints.length === 0
  panel.replaceChildren(...endpoints.map((endpoint) => {
    const age = endpoint.oldestUndeliveredAgeSeconds
    const title = `${endpoint.state}${endpoint.lastError ? ` (last error: ${endpoint.lastError})` : ''}` +
      (age === null ? '' : `; oldest undelivered ${Math.round(age)} s`)
    const text = `${endpoint.url}: ${endpoint.undelivered} pending` + (endpoint.deadLettered > 0 ? `, ${endpoint.deadLettered} dead-lettered` : '')
    return el('span', { class: 'endpoint', 'data-state': endpoint.state, title }, el('i'), ` ${text}`)
  }))
}

function sumGauge (text, name) {
  let sum
  for (const line of text.split('\n')) {
    if (line.split(/[{ ]/)[0] !== name) continue
    const value = Number(line.trim().split(/\s+/).at(-1))
    if (Number.isFinite(value)) sum = (sum ?? 0) + value
  }
  return sum
}

function showLogin (message) {
  for (const stop of unsubscribes) stop()
  unsubscribes = []
  $('login').hidden = false
  $('filters').hidden = true
  $('charts').hidden = true
  $('main').hidden = true
  if (message) { $('fatal').hidden = false; $('fatal').textContent = message }
  $('login-token').focus()
}

function start () {
  $('login').hidden = true
  $('fatal').hidden = true
  $('filters').hidden = false
  $('main').hidden = false
  connect()
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault()
  token = $('login-token').value.trim()
  sessionStorage.setItem(TOKEN_KEY, token)
  start()
})
$('logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY)
  token = null
  showLogin()
})
$('filter-id').addEventListener('input', (event) => { filters.id = event.target.value.trim(); rerender() })
$('filter-status').addEventListener('change', (event) => { filters.status = event.target.value; rerender() })
$('filter-kind-orders').addEventListener('change', (event) => { filters.orders = event.target.checked; rerender() })
$('filter-kind-registrations').addEventListener('change', (event) => { filters.registrations = event.target.checked; rerender() })
function rerender () { renderRegistrations(); renderOrders(); applyFiltersToActivity() }

if (token) start()
else showLogin()
