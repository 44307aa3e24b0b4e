/**
 * The one module that imports onnxruntime-node (with ./model.ts and ./runner.ts beside it). It opens
 * graphs with exactly one execution provider, reports their real inputs and outputs, checks feeds
 * against `session.inputNames`, and turns a failed run into an InferenceError that lists every input.
 */
import * as ort from 'onnxruntime-node'
import { InferenceError, ModelLoadError } from '../../../src-shared/errors'
import type { ProviderName, TensorInfo } from '../../../src-shared/protocol'

export type Logger = (line: string) => void
export const stderrLogger: Logger = (line) => {
  process.stderr.write(`${line}\n`)
}

export type Feeds = Record<string, ort.Tensor>
export type Fetches = Readonly<Partial<Record<string, ort.Tensor>>>

export function ortVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common
}

export function supportedBackends(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }))
}

/** Wraps a typed array as a tensor; a length that does not fit the dims is named with its input. */
export function tensor(
  graph: string,
  name: string,
  data: Float32Array | BigInt64Array,
  dims: readonly number[],
): ort.Tensor {
  const size = dims.reduce((a, b) => a * b, 1)
  if (data.length !== size) {
    throw new InferenceError(
      `${graph} input ${name}: ${data.length} values for dims [${dims.join(', ')}] (${size} expected)`,
    )
  }
  return data instanceof BigInt64Array
    ? new ort.Tensor('int64', data, dims)
    : new ort.Tensor('float32', data, dims)
}

function providerConfig(
  provider: ProviderName,
  deviceId: number | undefined,
): ort.InferenceSession.ExecutionProviderConfig {
  if (provider === 'cuda' || provider === 'dml')
    return deviceId === undefined ? provider : { name: provider, deviceId }
  return provider
}

function ioOf(metadata: readonly ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((m) =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: [...m.shape] }
      : { name: m.name, type: 'non-tensor', shape: [] },
  )
}

/**
 * Intra-op threads sleep between ops instead of spinning. A spinning pool keeps every core busy
 * while JavaScript samples tokens between steps, and on a small shared machine (2 cores, other
 * processes) it fights them for the cores: the d4 var_step took about 2.5x the wall time with
 * spinning there, against a few percent of wake-up cost on an idle machine.
 */
const SESSION_TUNING: ort.InferenceSession.SessionOptions = {
  extra: { session: { intra_op: { allow_spinning: '0' } } },
}

/** ORT's message when the file itself cannot be parsed, as opposed to a provider that cannot start. */
const BAD_MODEL_FILE = /^Load model from .* failed:/

/** One opened graph: its session and its real inputs and outputs. */
export class Graph {
  readonly inputs: TensorInfo[]
  readonly outputs: TensorInfo[]

  private constructor(
    readonly label: string,
    private readonly session: ort.InferenceSession,
    private readonly log: Logger,
  ) {
    this.inputs = ioOf(session.inputMetadata)
    this.outputs = ioOf(session.outputMetadata)
  }

  /**
   * Opens `path` with only `provider`. A file ORT cannot parse becomes a ModelLoadError (no other
   * provider would help); anything else is rethrown for the ladder to record.
   */
  static async open(
    path: string,
    label: string,
    provider: ProviderName,
    deviceId?: number,
    log: Logger = stderrLogger,
  ): Promise<Graph> {
    let session: ort.InferenceSession
    try {
      session = await ort.InferenceSession.create(path, {
        executionProviders: [providerConfig(provider, deviceId)],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        ...SESSION_TUNING,
      })
    } catch (cause) {
      const message = cause instanceof Error ? cause.message : String(cause)
      if (BAD_MODEL_FILE.test(message)) {
        const detail = message.replace(BAD_MODEL_FILE, '').trim()
        throw new ModelLoadError(
          `${label} could not be loaded: ${detail} (the file is damaged or truncated; run \`var-studio models verify\`)`,
          { cause },
        )
      }
      throw cause
    }
    return new Graph(label, session, log)
  }

  /**
   * Runs the graph; names missing or unexpected feeds, and lists every input when the run fails.
   * `outputs` limits what comes back (all outputs by default).
   */
  async run(feeds: Feeds, outputs?: readonly string[]): Promise<Fetches> {
    const names = this.session.inputNames
    const missing = names.filter((n) => !Object.hasOwn(feeds, n))
    const extra = Object.keys(feeds).filter((n) => !names.includes(n))
    if (missing.length > 0 || extra.length > 0) {
      const parts = [
        missing.length > 0 ? `missing input(s) ${missing.join(', ')}` : '',
        extra.length > 0 ? `unknown input(s) ${extra.join(', ')}` : '',
      ].filter(Boolean)
      throw new InferenceError(`${this.label}: ${parts.join('; ')} (the graph takes ${names.join(', ')})`)
    }
    try {
      return await (outputs ? this.session.run(feeds, [...outputs]) : this.session.run(feeds))
    } catch (cause) {
      const lines = Object.entries(feeds).map(([n, t]) => `  ${n}: ${t.type} [${t.dims.join(', ')}]`)
      this.log(`${this.label} run failed; inputs:\n${lines.join('\n')}`)
      const message = cause instanceof Error ? cause.message : String(cause)
      throw new InferenceError(`${this.label} failed: ${message}\ninputs:\n${lines.join('\n')}`, { cause })
    }
  }

  async release(): Promise<void> {
    await this.session.release()
  }
}

/** The typed array of a float32 output, with its length checked. */
export function floatOutput(fetches: Fetches, graph: string, name: string, length: number): Float32Array {
  const t = fetches[name]
  if (!t) throw new InferenceError(`${graph} returned no output "${name}"`)
  if (t.type !== 'float32' || !(t.data instanceof Float32Array)) {
    throw new InferenceError(`${graph} output ${name} is ${t.type}, float32 expected`)
  }
  if (t.data.length !== length) {
    throw new InferenceError(
      `${graph} output ${name} has ${t.data.length} values [${t.dims.join(', ')}], ${length} expected`,
    )
  }
  return t.data
}
