import { describe, expect, it } from 'vitest'
import { ManifestError } from '../../src-shared/errors'
import { formatIssuePath, manifestSchema, parseManifest } from '../../src-shared/manifest'
import { validManifest } from '../fixtures/manifest'

type Mutable = Record<string, unknown> & ReturnType<typeof validManifest>

/** Parses and returns the ManifestError; fails the test if the manifest was accepted. */
function rejectionOf(mutate: (m: Mutable) => void): ManifestError {
  const m = validManifest() as Mutable
  mutate(m)
  try {
    parseManifest(JSON.parse(JSON.stringify(m)))
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError)
    return error as ManifestError
  }
  throw new Error('manifest was accepted')
}

describe('manifestSchema', () => {
  it('accepts the exporter format, also after a JSON round trip', () => {
    const m = validManifest()
    expect(manifestSchema.parse(m)).toEqual(m)
    expect(parseManifest(JSON.parse(JSON.stringify(m)))).toEqual(m)
  })

  it('accepts an optional classifier graph listed in files', () => {
    const m = validManifest()
    m.graphs.classifier = {
      file: 'classifier.onnx',
      inputs: [{ name: 'image', dtype: 'float32', shape: ['B', 1, 28, 28] }],
      outputs: [{ name: 'logits', dtype: 'float32', shape: ['B', 10] }],
    }
    m.files['classifier.onnx'] = { sha256: 'cd'.repeat(32), bytes: 99 }
    expect(parseManifest(m).graphs.classifier?.file).toBe('classifier.onnx')
  })

  it('accepts external-data files listed in files, float16 weights and checkpoint hashes', () => {
    const m = validManifest()
    m.graphs.var_step.external_data = ['var_step.onnx.data']
    m.files['var_step.onnx.data'] = { sha256: 'cd'.repeat(32), bytes: 8_000_000_000 }
    m.weight_dtype = 'float16'
    m.source = {
      kind: 'official',
      files: [
        { name: 'vae_ch160v4096z32.pth', sha256: 'ef'.repeat(32), bytes: 436_075_834 },
        { name: 'var_d30.pth', sha256: '01'.repeat(32), bytes: 8_000_000_000 },
      ],
    }
    const parsed = parseManifest(JSON.parse(JSON.stringify(m)))
    expect(parsed.graphs.var_step.external_data).toEqual(['var_step.onnx.data'])
    expect(parsed.source.files?.[1]?.name).toBe('var_d30.pth')
  })

  it('accepts int8 linear layers and says where the class names came from', () => {
    const m = validManifest()
    m.weight_dtype = 'int8'
    m.source = { kind: 'official', class_names: 'ImageNet categories, torchvision 0.14.1a0' }
    const parsed = parseManifest(JSON.parse(JSON.stringify(m)))
    expect(parsed.weight_dtype).toBe('int8')
    expect(parsed.source.class_names).toBe('ImageNet categories, torchvision 0.14.1a0')
  })

  it('accepts top_p = 1 and top_k = 0 (both filters off)', () => {
    const m = validManifest()
    m.sampling_defaults = { cfg: 0, top_k: 0, top_p: 1 }
    expect(() => parseManifest(m)).not.toThrow()
    // 0 is the official sampler's "off" too
    m.sampling_defaults = { cfg: 0, top_k: 0, top_p: 0 }
    expect(() => parseManifest(m)).not.toThrow()
  })

  const cases: [string, (m: Mutable) => void, string][] = [
    ['wrong format', (m) => (m.format = 'var-onnx/2' as 'var-onnx/1'), 'format'],
    ['missing Cvae', (m) => Reflect.deleteProperty(m, 'Cvae'), 'Cvae'],
    [
      'unknown key',
      (m) => (m.sampling_defaults = { ...m.sampling_defaults, 'top-p': 1 } as never),
      'sampling_defaults["top-p"]',
    ],
    ['unknown top-level key', (m) => (m.cvae = 16), 'cvae'],
    ['embed_dim != heads * head_dim', (m) => (m.embed_dim = 255), 'embed_dim'],
    ['class_names length', (m) => m.class_names.pop(), 'class_names'],
    ['null_class != num_classes', (m) => (m.null_class = 0), 'null_class'],
    ['patch_nums not increasing', (m) => (m.patch_nums = [1, 2, 2, 4, 5, 7]), 'patch_nums[2]'],
    ['begin inconsistent', (m) => (m.begin[3] = 15), 'begin[3]'],
    ['begin too short', (m) => m.begin.pop(), 'begin'],
    ['L wrong', (m) => (m.L = 100), 'L'],
    ['first_l wrong', (m) => (m.first_l = 4), 'first_l'],
    ['latent_hw != last patch_num', (m) => (m.latent_hw = 8), 'latent_hw'],
    ['phi_index out of range', (m) => (m.phi_index[2] = 4), 'phi_index[2]'],
    ['phi_index length', (m) => m.phi_index.pop(), 'phi_index'],
    ['up matrix size', (m) => m.up[1].pop(), 'up[1]'],
    ['up count', (m) => m.up.pop(), 'up'],
    ['down last is not latent_hw x latent_hw', (m) => (m.down[5] = new Array<number>(7).fill(0)), 'down[5]'],
    ['graph file not listed', (m) => delete m.files['vq_step.onnx'], 'graphs.vq_step.file'],
    ['codebook not listed', (m) => delete m.files['codebook.f32'], 'codebook.file'],
    [
      'codebook bytes',
      (m) => (m.files['codebook.f32'] = { sha256: 'ab'.repeat(32), bytes: 10 }),
      'files["codebook.f32"].bytes',
    ],
    ['codebook named like an Object member', (m) => (m.codebook.file = 'constructor'), 'codebook.file'],
    [
      'manifest listed in files',
      (m) => (m.files['manifest.json'] = { sha256: 'ab'.repeat(32), bytes: 1 }),
      'files["manifest.json"]',
    ],
    ['codebook shape', (m) => (m.codebook.shape = [511, 16]), 'codebook.shape'],
    ['path in a file name', (m) => (m.graphs.var_step.file = '../var_step.onnx'), 'graphs.var_step.file'],
    [
      'bad sha256',
      (m) => (m.files['var_step.onnx'] = { sha256: 'xyz', bytes: 1 }),
      'files["var_step.onnx"].sha256',
    ],
    [
      'fractional dim',
      (m) => (m.graphs.var_step.inputs[0].shape[0] = 1.5),
      'graphs.var_step.inputs[0].shape[0]',
    ],
    [
      'unknown dtype',
      (m) => (m.graphs.vae_decode.outputs[0].dtype = 'float16' as 'float32'),
      'graphs.vae_decode.outputs[0].dtype',
    ],
    ['top_p < 0', (m) => (m.sampling_defaults.top_p = -0.5), 'sampling_defaults.top_p'],
    ['top_k > vocab', (m) => (m.sampling_defaults.top_k = 513), 'sampling_defaults.top_k'],
    ['source kind', (m) => (m.source = { kind: 'downloaded' as 'trained' }), 'source.kind'],
    [
      'source field not string or number',
      (m) => (m.source = { kind: 'official', extra: [1] } as never),
      'source.extra',
    ],
    [
      'external data not listed in files',
      (m) => (m.graphs.var_step.external_data = ['var_step.onnx.data']),
      'graphs.var_step.external_data[0]',
    ],
    [
      'external data outside the folder',
      (m) => (m.graphs.vae_decode.external_data = ['../weights.bin']),
      'graphs.vae_decode.external_data[0]',
    ],
    ['unknown weight dtype', (m) => (m.weight_dtype = 'bfloat16' as 'float16'), 'weight_dtype'],
    [
      'source file without a hash',
      (m) => (m.source = { kind: 'official', files: [{ name: 'var_d16.pth', sha256: 'x', bytes: 1 }] }),
      'source.files[0].sha256',
    ],
  ]

  it.each(cases)('rejects %s and names the field', (_label, mutate, path) => {
    const error = rejectionOf(mutate)
    expect(error.name).toBe('ManifestError')
    expect(error.issues.map((i) => i.path)).toContain(path)
    expect(error.message).toContain(`${path}:`)
  })

  it('formats issue paths for people', () => {
    expect(formatIssuePath([])).toBe('(root)')
    expect(formatIssuePath(['graphs', 'var_step', 'inputs', 0, 'shape', 2])).toBe(
      'graphs.var_step.inputs[0].shape[2]',
    )
    expect(formatIssuePath(['files', 'codebook.f32', 'bytes'])).toBe('files["codebook.f32"].bytes')
  })
})
