/**
 * Opens every graph of a `var-onnx/1` folder with one execution provider (walking the ladder),
 * checks each graph's inputs and outputs against the manifest, and hands back a StepRunner.
 */
import { join } from 'node:path'
import type { StepRunner } from '../../../src-shared/engine/runner'
import { GraphContractError } from '../../../src-shared/errors'
import { formatIssuePath, type GraphName, type VarManifest } from '../../../src-shared/manifest'
import {
  type DeviceChoice,
  errorToWire,
  type GraphCheck,
  type ProviderName,
  type ProviderReport,
} from '../../../src-shared/protocol'
import { graphIssues } from './contract'
import { ladderFor, openWithLadder } from './providers'
import { OrtStepRunner } from './runner'
import { Graph, type Logger, stderrLogger } from './session'

export interface OpenedModel {
  readonly dir: string
  readonly manifest: VarManifest
  readonly provider: ProviderReport
  readonly runner: StepRunner
  release(): Promise<void>
}

export interface OpenOptions {
  /** Defaults to the ladder of this platform. */
  readonly ladder?: readonly ProviderName[]
  readonly log?: Logger
}

export const GRAPH_ORDER: readonly GraphName[] = ['var_step', 'vq_step', 'vae_decode', 'classifier']

export const platformLadder = (): ProviderName[] => ladderFor(process.platform, process.arch)

function contractError(
  manifest: VarManifest,
  graph: GraphName,
  issues: GraphCheck['issues'],
): GraphContractError {
  const file = manifest.graphs[graph]?.file ?? graph
  const lines = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')
  return new GraphContractError(`${file} (${graph}) disagrees with manifest.json:\n${lines}`, issues)
}

async function releaseAll(graphs: Iterable<Graph>): Promise<void> {
  await Promise.allSettled([...graphs].map((g) => g.release()))
}

async function openAll(
  dir: string,
  manifest: VarManifest,
  provider: ProviderName,
  deviceId: number | undefined,
  log: Logger,
): Promise<Map<GraphName, Graph>> {
  const opened = new Map<GraphName, Graph>()
  try {
    for (const name of GRAPH_ORDER) {
      const spec = manifest.graphs[name]
      if (!spec) continue
      const graph = await Graph.open(join(dir, spec.file), `${name} (${spec.file})`, provider, deviceId, log)
      opened.set(name, graph)
      const issues = graphIssues(manifest, name, graph)
      if (issues.length > 0) throw contractError(manifest, name, issues)
    }
    return opened
  } catch (error) {
    await releaseAll(opened.values())
    throw error
  }
}

/** Opens the model's graphs with the first provider of the ladder (or the chosen one) that works. */
export async function openModel(
  dir: string,
  manifest: VarManifest,
  device: DeviceChoice,
  options: OpenOptions = {},
): Promise<OpenedModel> {
  const log = options.log ?? stderrLogger
  const { value: graphs, report } = await openWithLadder(
    device,
    options.ladder ?? platformLadder(),
    (provider, deviceId) => openAll(dir, manifest, provider, deviceId, log),
  )
  const get = (name: GraphName): Graph => {
    const g = graphs.get(name)
    if (!g) throw new Error(`graph ${name} was not opened`)
    return g
  }
  const classifier = graphs.get('classifier')
  const runner = new OrtStepRunner(manifest, {
    var_step: get('var_step'),
    vq_step: get('vq_step'),
    vae_decode: get('vae_decode'),
    ...(classifier ? { classifier } : {}),
  })
  return { dir, manifest, provider: report, runner, release: () => releaseAll(graphs.values()) }
}

/** Opens each graph on cpu and reports how its inputs and outputs compare with the manifest. */
export async function checkGraphs(
  dir: string,
  manifest: VarManifest,
  onGraph?: (graph: GraphName, index: number, count: number) => void,
  log: Logger = stderrLogger,
): Promise<GraphCheck[]> {
  const names = GRAPH_ORDER.filter((n) => manifest.graphs[n])
  const checks: GraphCheck[] = []
  for (const [index, name] of names.entries()) {
    const spec = manifest.graphs[name]
    if (!spec) continue
    onGraph?.(name, index, names.length)
    let graph: Graph | undefined
    try {
      graph = await Graph.open(join(dir, spec.file), `${name} (${spec.file})`, 'cpu', undefined, log)
      const issues = graphIssues(manifest, name, graph)
      checks.push({
        graph: name,
        file: spec.file,
        ok: issues.length === 0,
        issues,
        inputs: graph.inputs,
        outputs: graph.outputs,
      })
    } catch (error) {
      const wire = errorToWire(error)
      checks.push({
        graph: name,
        file: spec.file,
        ok: false,
        issues: [{ path: formatIssuePath(['graphs', name, 'file']), message: wire.message }],
        inputs: [],
        outputs: [],
        error: wire,
      })
    } finally {
      await graph?.release()
    }
  }
  return checks
}
