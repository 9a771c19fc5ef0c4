// Reads the deploy files the way their tools do: kustomize overlays, the compose file and the Dockerfile.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
export const overlays = ['dev', 'prod'] as const
export type Overlay = typeof overlays[number]

/** The Herald processes the manifests run, by Deployment / compose service / Dockerfile target name. */
export const services = ['webhook-ingest', 'status-gateway'] as const
export type ServiceName = typeof services[number]

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  spec?: any
  data?: Record<string, string>
  stringData?: Record<string, string>
  [field: string]: unknown
}

const rendered = new Map<Overlay, KubeObject[]>()

/** `kubectl kustomize k8s/overlays/<name>`, parsed; cached per run. */
export function renderOverlay (name: Overlay): KubeObject[] {
  let objects = rendered.get(name)
  if (objects === undefined) {
    const yamlText = execFileSync('kubectl', ['kustomize', `k8s/overlays/${name}`], { cwd: repoRoot, encoding: 'utf8' })
    objects = parseAllDocuments(yamlText).map((doc) => {
      if (doc.errors.length > 0) throw doc.errors[0]
      return doc.toJS() as KubeObject
    }).filter((object) => object !== null)
    rendered.set(name, objects)
  }
  return objects
}

export function findObject (objects: KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name} in the rendered manifests`)
  return found
}

export interface EnvVar { name: string, value?: string, valueFrom?: any }
export interface Container {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: EnvVar[]
  envFrom?: Array<{ configMapRef?: { name: string }, secretRef?: { name: string } }>
  ports?: Array<{ name?: string, containerPort: number }>
  readinessProbe?: any
  livenessProbe?: any
  startupProbe?: any
  lifecycle?: any
  securityContext?: any
  resources?: any
  volumeMounts?: Array<{ name: string, mountPath: string }>
}

/** Values of a ConfigMap or Secret as the pod sees them. */
function dataOf (objects: KubeObject[], kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> {
  const object = findObject(objects, kind, name)
  const decoded = Object.fromEntries(Object.entries(object.data ?? {}).map(([key, value]) =>
    [key, kind === 'Secret' ? Buffer.from(value, 'base64').toString('utf8') : value]))
  return { ...decoded, ...(object.stringData ?? {}) }
}

/**
 * The environment a container starts with: envFrom first, then env (which wins), the way the kubelet
 * builds it. `podName` stands in for downward-API references to metadata.name.
 */
export function containerEnv (objects: KubeObject[], container: Container, podName: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef !== undefined) Object.assign(env, dataOf(objects, 'ConfigMap', source.configMapRef.name))
    if (source.secretRef !== undefined) Object.assign(env, dataOf(objects, 'Secret', source.secretRef.name))
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value
    else if (variable.valueFrom?.configMapKeyRef !== undefined) {
      const ref = variable.valueFrom.configMapKeyRef
      env[variable.name] = requireKey(dataOf(objects, 'ConfigMap', ref.name), ref.key, `ConfigMap ${ref.name}`)
    } else if (variable.valueFrom?.secretKeyRef !== undefined) {
      const ref = variable.valueFrom.secretKeyRef
      env[variable.name] = requireKey(dataOf(objects, 'Secret', ref.name), ref.key, `Secret ${ref.name}`)
    } else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.name') {
      env[variable.name] = podName
    } else {
      throw new Error(`${container.name}: unsupported source for ${variable.name}`)
    }
  }
  return env
}

function requireKey (data: Record<string, string>, key: string, where: string): string {
  const value = data[key]
  if (value === undefined) throw new Error(`${where} has no key ${key}`)
  return value
}

/** The one container of a workload's pod template. */
export function podContainers (workload: KubeObject): Container[] {
  return workload.spec.template.spec.containers as Container[]
}

export function readRepoFile (path: string): string {
  return readFileSync(new URL(path, `file://${repoRoot}`), 'utf8')
}

export function parseDockerfile (): Dockerfile {
  return DockerfileParser.parse(readRepoFile('infra/Dockerfile'))
}

export function parseCompose (): any {
  return parse(readRepoFile('infra/compose.yaml'), { merge: true })
}

/** `KEY=value` lines of an env file (comments and blanks skipped). */
export function parseEnvFile (text: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (match !== null) values[match[1]!] = match[2]!
  }
  return values
}

/** Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?message}` interpolation. */
export function interpolate (text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_whole, name: string, operator: string | undefined, argument: string | undefined) => {
    const value = vars[name]
    const unset = value === undefined || (operator?.startsWith(':') === true && value === '')
    if (!unset) return value
    if (operator?.endsWith('-') === true) return argument ?? ''
    if (operator?.endsWith('?') === true) throw new Error(`${name} is required: ${argument}`)
    return ''
  })
}
