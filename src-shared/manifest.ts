/**
 * The `manifest.json` of a `var-onnx/1` model folder (DESIGN section 3). Keys are the snake_case
 * names the Python exporter writes; unknown keys are rejected so a typo on either side shows up
 * as an error naming the key instead of a silently ignored field.
 */
import { z } from 'zod'
import { ManifestError, type ManifestIssue } from './errors'

const posInt = z.number().int().positive()
const nonNegInt = z.number().int().nonnegative()

/** A plain file name inside the model folder: no directories, no `..`. */
const fileName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a plain file name inside the model folder')

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits')

const sourceFiles = z.array(z.strictObject({ name: z.string().min(1), sha256: sha256Hex, bytes: nonNegInt }))

/** A fixed dimension, or a symbolic one such as "N", "l", "pn_next". */
const dim = z.union([nonNegInt, z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a symbol')])

const tensorSpec = z.strictObject({
  name: z.string().min(1),
  dtype: z.enum(['float32', 'int64']),
  shape: z.array(dim),
})

const graphSpec = z.strictObject({
  file: fileName.endsWith('.onnx'),
  inputs: z.array(tensorSpec).min(1),
  outputs: z.array(tensorSpec).min(1),
  /**
   * Side files holding the graph's weights (ONNX external data, used past the 2 GB protobuf limit).
   * onnxruntime finds them next to the graph; they are listed here so that a folder missing one is
   * reported as such, and in `files` so that their size and sha256 are checked like any other file.
   */
  external_data: z.array(fileName).min(1).optional(),
})

const graphsSchema = z.strictObject({
  var_step: graphSpec,
  vq_step: graphSpec,
  vae_decode: graphSpec,
  classifier: graphSpec.optional(),
})

const baseSchema = z.strictObject({
  format: z.literal('var-onnx/1'),
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lower-case letters, digits, ".", "_" or "-"'),
  display_name: z.string().min(1),
  depth: posInt,
  embed_dim: posInt,
  num_heads: posInt,
  head_dim: posInt,
  num_classes: posInt,
  null_class: nonNegInt,
  class_names: z.array(z.string().min(1)),
  vocab_size: posInt,
  Cvae: posInt,
  patch_nums: z.array(posInt).min(1),
  begin: z.array(nonNegInt),
  L: posInt,
  first_l: posInt,
  latent_hw: posInt,
  image_size: posInt,
  image_channels: posInt,
  phi_count: posInt,
  phi_index: z.array(nonNegInt),
  quant_resi: z.number().min(0).max(1),
  up: z.array(z.array(z.number())),
  down: z.array(z.array(z.number())),
  graphs: graphsSchema,
  codebook: z.strictObject({
    file: fileName,
    dtype: z.literal('float32'),
    shape: z.tuple([posInt, posInt]),
  }),
  sampling_defaults: z.strictObject({
    cfg: z.number().nonnegative(),
    top_k: nonNegInt,
    // 0 turns top-p off, as in the official sampler (older readers want (0, 1])
    top_p: z.number().min(0).max(1),
  }),
  /** How the graphs store their weights; float16 weights are cast to float32 inside the graph. */
  weight_dtype: z.enum(['float32', 'float16', 'int8']).optional(),
  files: z.record(
    fileName,
    z.strictObject({
      sha256: sha256Hex,
      bytes: nonNegInt,
    }),
  ),
  source: z
    .object({
      kind: z.enum(['trained', 'official']),
      /** The checkpoints the folder was exported from, so a folder can be traced to exact files. */
      files: sourceFiles.optional(),
    })
    // other keys describe the origin in a word or a number (dataset, training steps, ...); the
    // union with sourceFiles only keeps `files` assignable to the index signature in TypeScript
    .catchall(z.union([z.string(), z.number(), sourceFiles])),
})

type BaseManifest = z.infer<typeof baseSchema>
const GRAPH_NAMES = ['var_step', 'vq_step', 'vae_decode', 'classifier'] as const
type Ctx = z.RefinementCtx

function issue(ctx: Ctx, path: (string | number)[], message: string): void {
  ctx.addIssue({ code: 'custom', path, message })
}

/** Checks that tie the scale schedule, the model shape and the file table together. */
function checkConsistency(m: BaseManifest, ctx: Ctx): void {
  const pns = m.patch_nums
  const scales = pns.length
  const last = pns[scales - 1] ?? 0

  if (m.embed_dim !== m.num_heads * m.head_dim) {
    issue(ctx, ['embed_dim'], `must equal num_heads * head_dim = ${m.num_heads * m.head_dim}`)
  }
  if (m.class_names.length !== m.num_classes) {
    issue(ctx, ['class_names'], `has ${m.class_names.length} entries, num_classes is ${m.num_classes}`)
  }
  if (m.null_class !== m.num_classes) {
    issue(ctx, ['null_class'], `must equal num_classes (${m.num_classes})`)
  }
  pns.forEach((pn, i) => {
    if (i > 0 && pn <= (pns[i - 1] ?? 0)) issue(ctx, ['patch_nums', i], 'must be strictly increasing')
  })

  let offset = 0
  if (m.begin.length !== scales) {
    issue(ctx, ['begin'], `has ${m.begin.length} entries, patch_nums has ${scales}`)
  }
  pns.forEach((pn, i) => {
    if (i < m.begin.length && m.begin[i] !== offset) {
      issue(ctx, ['begin', i], `must be ${offset} (sum of squares of the earlier patch_nums)`)
    }
    offset += pn * pn
  })
  if (m.L !== offset) issue(ctx, ['L'], `must be ${offset} (sum of squares of patch_nums)`)
  const firstL = (pns[0] ?? 0) ** 2
  if (m.first_l !== firstL) issue(ctx, ['first_l'], `must be ${firstL} (patch_nums[0] squared)`)
  if (m.latent_hw !== last) issue(ctx, ['latent_hw'], `must equal the last patch_num (${last})`)

  if (m.phi_index.length !== scales) {
    issue(ctx, ['phi_index'], `has ${m.phi_index.length} entries, one per scale (${scales}) expected`)
  }
  m.phi_index.forEach((k, i) => {
    if (k >= m.phi_count) issue(ctx, ['phi_index', i], `must be below phi_count (${m.phi_count})`)
  })

  const hw = last // judged against the schedule, so a wrong latent_hw is reported once
  if (m.up.length !== scales) issue(ctx, ['up'], `has ${m.up.length} matrices, ${scales} expected`)
  m.up.forEach((mat, si) => {
    const want = hw * (pns[si] ?? 0)
    if (mat.length !== want)
      issue(ctx, ['up', si], `has ${mat.length} values, [latent_hw, pn] = ${want} expected`)
  })
  if (m.down.length !== scales) issue(ctx, ['down'], `has ${m.down.length} matrices, ${scales} expected`)
  m.down.forEach((mat, si) => {
    const want = (pns[si + 1] ?? hw) * hw
    if (mat.length !== want) issue(ctx, ['down', si], `has ${mat.length} values, ${want} expected`)
  })

  const [rows, cols] = m.codebook.shape
  if (rows !== m.vocab_size || cols !== m.Cvae) {
    issue(ctx, ['codebook', 'shape'], `must be [vocab_size, Cvae] = [${m.vocab_size}, ${m.Cvae}]`)
  }
  const listed = (file: string): boolean => Object.hasOwn(m.files, file)
  if (!listed(m.codebook.file)) {
    issue(ctx, ['codebook', 'file'], `"${m.codebook.file}" is not listed in files`)
  } else if (m.files[m.codebook.file].bytes !== rows * cols * 4) {
    issue(ctx, ['files', m.codebook.file, 'bytes'], `must be ${rows * cols * 4} (float32 [${rows}, ${cols}])`)
  }
  for (const name of GRAPH_NAMES) {
    const graph = m.graphs[name]
    if (graph && !listed(graph.file)) {
      issue(ctx, ['graphs', name, 'file'], `"${graph.file}" is not listed in files`)
    }
    graph?.external_data?.forEach((file, i) => {
      if (!listed(file)) issue(ctx, ['graphs', name, 'external_data', i], `"${file}" is not listed in files`)
    })
  }
  if (listed('manifest.json')) issue(ctx, ['files', 'manifest.json'], 'the manifest cannot list itself')
  if (m.sampling_defaults.top_k > m.vocab_size) {
    issue(ctx, ['sampling_defaults', 'top_k'], `must be at most vocab_size (${m.vocab_size}); 0 turns it off`)
  }
}

export const manifestSchema = baseSchema.superRefine(checkConsistency)

export type VarManifest = z.infer<typeof manifestSchema>
export type GraphName = keyof VarManifest['graphs']
export type TensorSpec = z.infer<typeof tensorSpec>

/** `graphs.var_step.file`, `begin[2]`, `files["a b"]`: how an issue path is shown to people. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out ? `.${key}` : key
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out || '(root)'
}

/** Validates parsed manifest JSON; throws a ManifestError whose message names every bad field. */
export function parseManifest(json: unknown, source = 'manifest.json'): VarManifest {
  const result = manifestSchema.safeParse(json)
  if (result.success) return result.data
  const issues: ManifestIssue[] = result.error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ path: formatIssuePath([...i.path, key]), message: 'unknown key' }))
      : [{ path: formatIssuePath(i.path), message: i.message }],
  )
  const lines = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')
  throw new ManifestError(`${source} is not a valid var-onnx/1 manifest:\n${lines}`, issues)
}
