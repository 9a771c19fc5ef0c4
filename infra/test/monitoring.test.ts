import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parser } from '@prometheus-io/lezer-promql'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import { findObject, parseCompose, readRepoFile, renderOverlay, repoRoot, services } from './helper.ts'

const prod = renderOverlay('prod')

/** Parses PromQL as Prometheus' own grammar does; returns the metric names it selects. */
function parsePromQL (expr: string): { errors: string[], metrics: string[] } {
  const errors: string[] = []
  const metrics: string[] = []
  parser.parse(expr).iterate({
    enter (node) {
      if (node.type.isError) errors.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.to + 20))}`)
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(node.from, node.to))
    }
  })
  return { errors, metrics }
}

/** Every metric name the services register (`name: 'herald_…'` in their sources and service-kit). */
function registeredMetrics (): Set<string> {
  const names = new Set<string>()
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry)
      if (statSync(path).isDirectory()) walk(path)
      else if (path.endsWith('.ts')) {
        for (const match of readFileSync(path, 'utf8').matchAll(/['`](herald_[a-z_]+|\$\{[^}]+\}_[a-z_]+)['`]/g)) names.add(match[1]!)
      }
    }
  }
  for (const dir of ['services/webhook-ingest/src', 'services/status-gateway/src', 'packages/service-kit/src']) walk(join(repoRoot, dir))
  return names
}

/** A selected series name resolved to the metric that produces it (histogram suffixes, kit-wide names). */
function knownMetric (name: string, registered: Set<string>): boolean {
  const base = name.replace(/_(bucket|count|sum)$/, '')
  if (registered.has(base) || registered.has(name)) return true
  // service-kit names its metrics `${namespace}_…` with namespace herald_ingest / herald_gateway.
  const kitName = /^herald_(ingest|gateway)_(.+)$/.exec(base)
  return kitName !== null && [...registered].some((known) => known.startsWith('${') && known.endsWith(`_${kitName[2]}`))
}

t.test('prod renders a ServiceMonitor that scrapes /metrics of both services on their http port', async (t) => {
  const monitor = findObject(prod, 'ServiceMonitor', 'herald')
  t.doesNotThrow(() => new ServiceMonitor(monitor as any).validate(), 'valid against the operator schema')
  t.equal(monitor.metadata.namespace, 'herald')
  for (const name of services) {
    const service = findObject(prod, 'Service', name)
    const selected = monitor.spec.selector.matchExpressions.every((expression: any) =>
      expression.operator === 'In' && expression.values.includes(service.metadata.labels?.[expression.key]))
    t.ok(selected, `${name}'s Service is selected`)
    for (const endpoint of monitor.spec.endpoints) {
      t.ok(service.spec.ports.some((port: any) => port.name === endpoint.port), `${name} has port ${endpoint.port}`)
    }
  }
  t.same(monitor.spec.endpoints.map((endpoint: any) => endpoint.path), ['/metrics'])
})

t.test('prod renders a PrometheusRule whose alerts parse as PromQL and use metrics the services expose', async (t) => {
  const rule = findObject(prod, 'PrometheusRule', 'herald')
  t.doesNotThrow(() => new PrometheusRule(rule as any).validate(), 'valid against the operator schema')
  const alerts = rule.spec.groups.flatMap((group: any) => group.rules) as Array<{ alert: string, expr: string, labels: Record<string, string>, annotations: Record<string, string> }>
  const names = alerts.map((alert) => alert.alert)
  for (const expected of [
    'HeraldCallbacksRefusedRising', 'HeraldOutboxBacklogGrowing', 'HeraldStreamLagGrowing', 'HeraldStreamPendingGrowing',
    'HeraldNoGatewayConsuming', 'HeraldDeliveryLatencyP99High', 'HeraldReadinessFlapping'
  ]) t.ok(names.includes(expected), `alerts on ${expected}`)
  const registered = registeredMetrics()
  for (const alert of alerts) {
    const { errors, metrics } = parsePromQL(alert.expr)
    t.same(errors, [], `${alert.alert} parses`)
    t.ok(metrics.length > 0, `${alert.alert} selects series`)
    for (const metric of metrics.filter((name) => name.startsWith('herald_'))) {
      t.ok(knownMetric(metric, registered), `${alert.alert}: ${metric} is a metric Herald exposes`)
    }
    t.ok(['page', 'warning'].includes(alert.labels.severity!), `${alert.alert} has a severity`)
    t.ok(alert.annotations.summary !== undefined && alert.annotations.description !== undefined, `${alert.alert} says what and why`)
  }
})

t.test('the Grafana dashboard ships in a ConfigMap the sidecar picks up, and its queries parse', async (t) => {
  const configMap = findObject(prod, 'ConfigMap', 'herald-grafana-dashboard')
  t.equal(configMap.metadata.labels?.grafana_dashboard, '1', 'sidecar label')
  const dashboard = JSON.parse(configMap.data!['herald.json']!)
  t.equal(dashboard.uid, 'herald')
  const registered = registeredMetrics()
  const exprs = dashboard.panels.flatMap((panel: any) => (panel.targets ?? []).map((target: any) => target.expr as string))
  t.ok(exprs.length >= 10, `${exprs.length} queries`)
  for (const expr of exprs) {
    const { errors, metrics } = parsePromQL(expr.replaceAll('$__rate_interval', '5m'))
    t.same(errors, [], `parses: ${expr}`)
    for (const metric of metrics) t.ok(knownMetric(metric, registered), `${metric} is a metric Herald exposes`)
  }
  t.same(JSON.parse(readRepoFile('k8s/components/monitoring/grafana/herald.json')), dashboard, 'the same file compose mounts')
  const ids = dashboard.panels.map((panel: any) => panel.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  const streamEvents = dashboard.panels.find((panel: any) => (panel.targets ?? []).some((target: any) => /rate\(herald_gateway_stream_events_total\[/.test(target.expr)))
  t.ok(streamEvents !== undefined, 'a panel charts the rate of events the gateways read')
  t.equal(streamEvents?.type, 'timeseries')
  t.ok(dashboard.panels.every((panel: any) => panel.gridPos.x + panel.gridPos.w <= 24), 'every panel fits the 24-column grid')
})

t.test('the scraper is admitted from a labelled monitoring namespace to the http port only', async (t) => {
  const policy = findObject(prod, 'NetworkPolicy', 'herald-services')
  const rule = policy.spec.ingress.find((rule: any) => rule.from.some((peer: any) => peer.namespaceSelector?.matchLabels?.['herald.io/monitoring'] === 'true'))
  t.ok(rule !== undefined, 'a rule admits namespaces labelled herald.io/monitoring=true')
  t.same(rule.ports, [{ protocol: 'TCP', port: 'http' }])
  t.notOk(renderOverlay('dev').some((object) => object.kind === 'ServiceMonitor'), 'dev stays without the operator CRDs')
})

t.test('compose: the monitoring profile runs Prometheus and Grafana with the same dashboard, off by default', async (t) => {
  const compose = parseCompose()
  for (const name of ['prometheus', 'grafana']) t.same(compose.services[name].profiles, ['monitoring'], `${name} only with --profile monitoring`)
  const mounts = compose.services.grafana.volumes.map((volume: string) => volume.split(':')[0])
  t.ok(mounts.includes('../k8s/components/monitoring/grafana/herald.json'), 'Grafana loads the k8s dashboard file')
  const scrapeConfig = readRepoFile('infra/monitoring/prometheus.yaml')
  for (const target of ['webhook-ingest:3001', 'status-gateway:3002']) t.match(scrapeConfig, target, `Prometheus scrapes ${target}`)
})
