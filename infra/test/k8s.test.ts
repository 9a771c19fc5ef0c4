import t from 'tap'
import { findObject, overlays, podContainers, renderOverlay, services, type KubeObject } from './helper.ts'

interface Validatable { validate (): void }
type ModelClass = new (data: KubeObject) => Validatable

/**
 * kubernetes-models ships one class per apiVersion/kind, each with the OpenAPI schema compiled in; the
 * Prometheus Operator's kinds (monitoring component) come from its companion package.
 */
async function modelOf (object: KubeObject): Promise<ModelClass> {
  const from = object.apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models'
  const module = await import(`${from}/${object.apiVersion}/${object.kind}`) as Record<string, ModelClass>
  const model = module[object.kind]
  if (model === undefined) throw new Error(`kubernetes-models has no ${object.apiVersion} ${object.kind}`)
  return model
}

const heraldWorkloads = (objects: KubeObject[]) => objects.filter((object) =>
  (object.kind === 'Deployment' || object.kind === 'Job') && object.metadata.labels?.['app.kubernetes.io/part-of'] === 'herald')

for (const overlay of overlays) {
  t.test(`overlay ${overlay}`, async (t) => {
    const objects = renderOverlay(overlay)

    t.test('renders, and every object is valid against the Kubernetes schema', async (t) => {
      t.ok(objects.length > 10, `${objects.length} objects rendered`)
      for (const object of objects) {
        const Model = await modelOf(object)
        t.doesNotThrow(() => new Model(object).validate(), `${object.kind} ${object.metadata.name}`)
      }
      const names = objects.map((object) => `${object.kind}/${object.metadata.name}`)
      for (const expected of [
        'Deployment/webhook-ingest', 'Deployment/status-gateway', 'Service/webhook-ingest', 'Service/status-gateway',
        'ConfigMap/herald-common', 'Secret/herald-secrets', 'Job/herald-migrate', 'PodDisruptionBudget/webhook-ingest',
        'PodDisruptionBudget/status-gateway', 'HorizontalPodAutoscaler/status-gateway', 'Ingress/herald', 'Namespace/' + (overlay === 'dev' ? 'herald-dev' : 'herald')
      ]) t.ok(names.includes(expected), `has ${expected}`)
      const namespaces = new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace))
      t.same([...namespaces], [overlay === 'dev' ? 'herald-dev' : 'herald'], 'everything in one namespace')
    })

    t.test('every Herald pod runs non-root, read-only, without capabilities, under RuntimeDefault seccomp', async (t) => {
      for (const workload of heraldWorkloads(objects)) {
        const pod = workload.spec.template.spec
        t.equal(pod.securityContext.runAsNonRoot, true, `${workload.metadata.name}: runAsNonRoot`)
        t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', `${workload.metadata.name}: seccomp`)
        t.equal(pod.automountServiceAccountToken, false, `${workload.metadata.name}: no API token`)
        for (const container of podContainers(workload)) {
          t.match(container.securityContext, {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] }
          }, `${container.name}: locked down`)
          t.ok(container.resources?.requests?.cpu !== undefined && container.resources?.limits?.memory !== undefined, `${container.name}: resources`)
          t.ok(container.volumeMounts?.some((mount) => mount.mountPath === '/tmp'), `${container.name}: writable /tmp`)
        }
      }
    })

    t.test('pods outlive their longest long-poll on shutdown: preStop pause, then the drain, within the grace period', async (t) => {
      for (const name of services) {
        const deployment = findObject(objects, 'Deployment', name)
        const pod = deployment.spec.template.spec
        const [container] = podContainers(deployment)
        const pause = Number(container!.lifecycle?.preStop?.exec?.command?.[1] ?? container!.lifecycle?.preStop?.sleep?.seconds)
        t.ok(pause >= 5, `${name}: preStop pause of ${pause} s`)
        const graceVariable = container!.env?.find((variable) => variable.name === 'SHUTDOWN_GRACE_MS')?.value ??
          findObject(objects, 'ConfigMap', 'herald-common').data!.SHUTDOWN_GRACE_MS!
        t.ok(pause + Number(graceVariable) / 1000 < pod.terminationGracePeriodSeconds,
          `${name}: ${pause} s + ${Number(graceVariable) / 1000} s inside ${pod.terminationGracePeriodSeconds} s`)
      }
      const gateway = findObject(objects, 'Deployment', 'status-gateway')
      const longPollSeconds = Number(findObject(objects, 'ConfigMap', 'herald-gateway').data!.LONGPOLL_MAX_TIMEOUT_MS) / 1000
      t.ok(gateway.spec.template.spec.terminationGracePeriodSeconds > longPollSeconds,
        `gateway grace ${gateway.spec.template.spec.terminationGracePeriodSeconds} s > longest long-poll ${longPollSeconds} s`)
    })

    t.test('the ingress streams: no buffering, timeouts above the longest long-poll, routes to each service', async (t) => {
      const ingress = findObject(objects, 'Ingress', 'herald')
      const longPollSeconds = Number(findObject(objects, 'ConfigMap', 'herald-gateway').data!.LONGPOLL_MAX_TIMEOUT_MS) / 1000
      const annotations = ingress.metadata.annotations ?? {}
      t.equal(annotations['nginx.ingress.kubernetes.io/proxy-buffering'], 'off')
      t.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']) > longPollSeconds, 'read timeout')
      t.ok(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout']) > longPollSeconds, 'send timeout')
      t.equal(ingress.spec.ingressClassName, 'nginx')
      const routes = Object.fromEntries(ingress.spec.rules.flatMap((rule: any) =>
        rule.http.paths.map((path: any) => [path.path, path.backend.service.name])))
      t.same(routes, {
        '/webhooks': 'webhook-ingest',
        '/v1': 'webhook-ingest',
        '/api': 'status-gateway',
        '/': 'status-gateway',
        '/demo': 'status-gateway',
        '/dashboard.js': 'status-gateway',
        '/dashboard.css': 'status-gateway',
        '/herald-client.js': 'status-gateway'
      })
      const publicPaths = ingress.spec.rules.flatMap((rule: any) => rule.http.paths.map((path: any) => path.path))
      for (const internal of ['/metrics', '/readyz', '/healthz', '/openapi.json']) {
        t.notOk(publicPaths.some((path: string) => path !== '/' && internal.startsWith(path)), `${internal} is not routed from outside`)
      }
      for (const serviceName of new Set(Object.values(routes) as string[])) {
        const service = findObject(objects, 'Service', serviceName)
        t.ok(service.spec.ports.some((port: any) => port.name === 'http'), `${serviceName} has the http port the ingress names`)
      }
    })

    t.test('network policies select every Herald pod, for ingress and egress', async (t) => {
      const policies = objects.filter((object) => object.kind === 'NetworkPolicy')
      for (const workload of heraldWorkloads(objects)) {
        const labels = workload.spec.template.metadata.labels as Record<string, string>
        const selecting = policies.filter((policy) => selects(policy.spec.podSelector, labels))
        const types = new Set(selecting.flatMap((policy) => policy.spec.policyTypes as string[]))
        t.ok(types.has('Ingress') && types.has('Egress'), `${workload.metadata.name} is fenced both ways`)
        const egressPorts = selecting.flatMap((policy) => (policy.spec.egress ?? []).flatMap((rule: any) => rule.ports.map((p: any) => p.port)))
        t.ok(egressPorts.includes(53) && egressPorts.includes(5432), `${workload.metadata.name} reaches DNS and Postgres`)
        if (workload.kind === 'Deployment') t.ok(egressPorts.includes(6379), `${workload.metadata.name} reaches Redis`)
      }
    })

    t.test('disruption budgets and the gateway autoscaler target the services', async (t) => {
      for (const name of services) {
        const budget = findObject(objects, 'PodDisruptionBudget', name)
        t.same(budget.spec.selector.matchLabels, findObject(objects, 'Deployment', name).spec.selector.matchLabels)
      }
      const hpa = findObject(objects, 'HorizontalPodAutoscaler', 'status-gateway')
      t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'status-gateway' })
      t.ok(hpa.spec.minReplicas <= hpa.spec.maxReplicas)
    })
  })
}

/** Label-selector matching for matchLabels and In expressions (all the manifests use). */
function selects (selector: any, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value)
  const byExpressions = (selector.matchExpressions ?? []).every((expression: any) => {
    if (expression.operator !== 'In') throw new Error(`unsupported selector operator ${expression.operator}`)
    return expression.values.includes(labels[expression.key])
  })
  return byLabels && byExpressions
}

t.test('dev runs Redis (AOF on) and Postgres in the cluster; prod points at an external Redis Cluster with more shards and replicas', async (t) => {
  const dev = renderOverlay('dev')
  const prod = renderOverlay('prod')
  const redis = findObject(dev, 'StatefulSet', 'redis')
  const redisArgs = podContainers(redis)[0]!.args!.join(' ')
  t.match(redisArgs, /--appendonly yes/, 'dev Redis keeps an append-only file')
  t.match(redisArgs, /--appendfsync always/, 'fsynced on every write')
  t.equal(redis.spec.replicas, 1)
  t.equal(findObject(dev, 'StatefulSet', 'postgres').spec.replicas, 1)
  t.equal(findObject(dev, 'ConfigMap', 'herald-common').data!.REDIS_URL, 'redis://redis:6379')
  t.match(findObject(dev, 'Secret', 'herald-secrets').stringData!.DATABASE_URL, /@postgres:5432\//)

  t.notOk(prod.some((object) => object.kind === 'StatefulSet'), 'prod runs no datastore itself')
  const prodConfig = findObject(prod, 'ConfigMap', 'herald-common').data!
  t.match(prodConfig.REDIS_CLUSTER_NODES, /^[^,]+:\d+(,[^,]+:\d+){2,}$/, 'three or more cluster seed nodes')
  t.ok(Number(prodConfig.HERALD_STREAM_SHARDS) >= 8, 'prod spreads the streams over 8+ shards')
  for (const name of services) {
    t.ok(findObject(prod, 'Deployment', name).spec.replicas > findObject(dev, 'Deployment', name).spec.replicas, `prod runs more ${name}`)
  }
  for (const image of podContainers(findObject(prod, 'Deployment', 'status-gateway')).map((c) => c.image)) {
    t.match(image, /:[\w.-]+$/, 'prod images carry a tag')
  }
})
