/**
 * Compares what a graph really takes and returns (from its session) with the manifest's `graphs`
 * entry and with the `var-onnx/1` contract. Pure: the session metadata comes in as TensorInfo.
 */
import type { ManifestIssue } from '../../../src-shared/errors'
import type { GraphName, TensorSpec, VarManifest } from '../../../src-shared/manifest'
import type { TensorInfo } from '../../../src-shared/protocol'

/** A required tensor of the contract, with the dims it must have (`null`: any). */
interface Required {
  readonly name: string
  readonly dims: readonly (number | null)[]
  readonly field: readonly (string | null)[]
}

const any = null

function req(name: string, spec: readonly [number | null, string | null][]): Required {
  return { name, dims: spec.map((s) => s[0]), field: spec.map((s) => s[1]) }
}

/** The tensors the step runner feeds and reads, per graph, with dims tied to manifest fields. */
function contractOf(m: VarManifest, graph: GraphName): { inputs: Required[]; outputs: Required[] } {
  const hw = m.latent_hw
  const kv = req('', [
    [m.depth, 'depth'],
    [any, any],
    [m.num_heads, 'num_heads'],
    [any, any],
    [m.head_dim, 'head_dim'],
  ])
  const latent: [number | null, string | null][] = [
    [any, any],
    [m.Cvae, 'Cvae'],
    [hw, 'latent_hw'],
    [hw, 'latent_hw'],
  ]
  const image: [number | null, string | null][] = [
    [any, any],
    [m.image_channels, 'image_channels'],
    [m.image_size, 'image_size'],
    [m.image_size, 'image_size'],
  ]
  switch (graph) {
    case 'var_step':
      return {
        inputs: [
          req('cond_label', [[any, any]]),
          req('x_cvae', [
            [any, any],
            [any, any],
            [m.Cvae, 'Cvae'],
          ]),
          req('pos', [[any, any]]),
          req('attn_bias', [
            [any, any],
            [any, any],
          ]),
          { ...kv, name: 'past_k' },
          { ...kv, name: 'past_v' },
        ],
        outputs: [
          req('logits', [
            [any, any],
            [any, any],
            [m.vocab_size, 'vocab_size'],
          ]),
          { ...kv, name: 'present_k' },
          { ...kv, name: 'present_v' },
        ],
      }
    case 'vq_step':
      return {
        inputs: [
          req('f_hat', latent),
          req('h_tok', [
            [any, any],
            [any, any],
            [m.Cvae, 'Cvae'],
          ]),
          req('up', [
            [hw, 'latent_hw'],
            [any, any],
          ]),
          req('phi_sel', [[m.phi_count, 'phi_count']]),
          req('down', [
            [any, any],
            [hw, 'latent_hw'],
          ]),
        ],
        outputs: [
          req('f_hat_out', latent),
          req('next_tok', [
            [any, any],
            [any, any],
            [m.Cvae, 'Cvae'],
          ]),
        ],
      }
    case 'vae_decode':
      return { inputs: [req('f_hat', latent)], outputs: [req('image', image)] }
    case 'classifier': {
      const spec = m.graphs.classifier
      const input = spec?.inputs[0]?.name ?? 'image'
      return {
        inputs: [req(input, image)],
        outputs: [
          req('logits', [
            [any, any],
            [m.num_classes, 'num_classes'],
          ]),
        ],
      }
    }
  }
}

const show = (shape: readonly (number | string)[]): string =>
  `[${shape.map((d) => (typeof d === 'string' ? JSON.stringify(d) : d)).join(', ')}]`

function compareSide(
  graph: GraphName,
  file: string,
  side: 'inputs' | 'outputs',
  declared: readonly TensorSpec[],
  actual: readonly TensorInfo[],
  required: readonly Required[],
): ManifestIssue[] {
  const issues: ManifestIssue[] = []
  const what = side === 'inputs' ? 'input' : 'output'
  const actualNames = actual.map((a) => a.name)
  const base = `graphs.${graph}.${side}`

  declared.forEach((spec, i) => {
    const path = `${base}[${i}]`
    const real = actual.find((a) => a.name === spec.name)
    if (!real) {
      issues.push({
        path: `${path}.name`,
        message: `${file} has no ${what} "${spec.name}" (its ${side}: ${actualNames.join(', ') || 'none'})`,
      })
      return
    }
    if (real.type !== spec.dtype) {
      issues.push({ path: `${path}.dtype`, message: `manifest says ${spec.dtype}, ${file} has ${real.type}` })
    }
    if (real.shape.length !== spec.shape.length) {
      issues.push({
        path: `${path}.shape`,
        message: `manifest says ${show(spec.shape)} (rank ${spec.shape.length}), ${file} has ${show(real.shape)} (rank ${real.shape.length})`,
      })
      return
    }
    spec.shape.forEach((dim, d) => {
      const got = real.shape[d]
      if (typeof dim === 'number' && typeof got === 'number' && dim !== got) {
        issues.push({ path: `${path}.shape[${d}]`, message: `manifest says ${dim}, ${file} has ${got}` })
      } else if (typeof dim === 'string' && typeof got === 'number') {
        issues.push({
          path: `${path}.shape[${d}]`,
          message: `manifest says it varies ("${dim}"), ${file} fixes it to ${got}`,
        })
      }
    })
  })
  for (const real of actual) {
    if (!declared.some((d) => d.name === real.name)) {
      issues.push({
        path: base,
        message: `${file} has ${what} "${real.name}" that the manifest does not list`,
      })
    }
  }
  for (const need of required) {
    const real = actual.find((a) => a.name === need.name)
    if (!real) {
      if (!declared.some((d) => d.name === need.name)) {
        issues.push({ path: base, message: `${file} lacks ${what} "${need.name}" required by var-onnx/1` })
      }
      continue
    }
    if (real.shape.length !== need.dims.length) {
      issues.push({
        path: base,
        message: `${file} ${what} ${need.name} has rank ${real.shape.length}, var-onnx/1 needs ${need.dims.length}`,
      })
      continue
    }
    need.dims.forEach((want, d) => {
      const got = real.shape[d]
      const field = need.field[d]
      if (want !== null && field && typeof got === 'number' && got !== want) {
        issues.push({
          path: field,
          message: `${file} ${what} ${need.name} has ${got} at dim ${d}, but the manifest's ${field} is ${want}`,
        })
      }
    })
  }
  return issues
}

/** Every disagreement between a graph's real inputs/outputs, its manifest entry and the contract. */
export function graphIssues(
  manifest: VarManifest,
  graph: GraphName,
  io: { inputs: readonly TensorInfo[]; outputs: readonly TensorInfo[] },
): ManifestIssue[] {
  const spec = manifest.graphs[graph]
  if (!spec) return []
  const contract = contractOf(manifest, graph)
  return [
    ...compareSide(graph, spec.file, 'inputs', spec.inputs, io.inputs, contract.inputs),
    ...compareSide(graph, spec.file, 'outputs', spec.outputs, io.outputs, contract.outputs),
  ]
}
