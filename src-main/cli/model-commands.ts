/** `var-studio models list | inspect | verify`. */
import { parseArgs } from 'node:util'
import type { ModelVerifyResult } from '../../src-shared/protocol'
import { inspectModelFolder } from '../storage/model-folder'
import { listModels } from '../storage/model-registry'
import { type CliContext, modelOptions, resolveModelDir, userModelDirs } from './context'
import { ProgressBar } from './progress'

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

export async function modelsList(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({ args, options: { 'models-dir': modelOptions['models-dir'] } })
  const models = await listModels({ userDirs: userModelDirs(values['models-dir']) })
  if (models.length === 0) {
    ctx.io.err('No models found. Add a folder with --models-dir DIR or VAR_STUDIO_MODELS.')
    return 1
  }
  for (const m of models) {
    if (m.ok) {
      ctx.io.out(
        `${m.id ?? '?'}  ${m.displayName ?? ''}  [${m.origin}]  ${m.numClasses ?? '?'} classes, ` +
          `${m.imageSize ?? '?'}px, ${mib(m.bytes ?? 0)}  ${m.dir}`,
      )
    } else {
      ctx.io.out(`(invalid)  [${m.origin}]  ${m.dir}: ${m.error?.message.split('\n')[0] ?? 'unreadable'}`)
    }
  }
  return 0
}

export async function modelsInspect(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...modelOptions, hashes: { type: 'boolean', default: false } },
  })
  if (positionals.length > 1) {
    ctx.io.err('models inspect takes at most one folder')
    return 2
  }
  const dir = await resolveModelDir({ ...values, ...(positionals[0] ? { model: positionals[0] } : {}) })
  const report = await inspectModelFolder(dir, { hashes: values.hashes })
  const m = report.manifest
  ctx.io.out(`${m.display_name} (${m.id}, ${m.format}) in ${dir}`)
  ctx.io.out(`  source: ${m.source.kind}`)
  ctx.io.out(`  transformer: depth ${m.depth}, ${m.num_heads} heads x ${m.head_dim} = ${m.embed_dim}`)
  ctx.io.out(`  tokens: vocab ${m.vocab_size}, Cvae ${m.Cvae}, scales ${m.patch_nums.join(',')} (L = ${m.L})`)
  ctx.io.out(`  images: ${m.image_size}x${m.image_size}x${m.image_channels}, ${m.num_classes} classes`)
  ctx.io.out(`  classes: ${m.class_names.map((n, i) => `${i} ${n}`).join(', ')}`)
  ctx.io.out(
    `  sampling defaults: cfg ${m.sampling_defaults.cfg}, top-k ${m.sampling_defaults.top_k}, top-p ${m.sampling_defaults.top_p}`,
  )
  ctx.io.out(`  graphs: ${Object.keys(m.graphs).join(', ')}`)
  const bad = report.files.filter((f) => !f.ok)
  for (const f of report.files)
    ctx.io.out(`  ${f.ok ? 'ok  ' : 'FAIL'} ${f.name}${f.problem ? `: ${f.problem}` : ''}`)
  if (bad.length > 0) {
    ctx.io.err(`${bad.length} of ${report.files.length} files do not match the manifest`)
    return 1
  }
  ctx.io.out(
    values.hashes
      ? 'All files present, sizes and hashes match.'
      : 'All files present with the listed sizes (use --hashes, or models verify, to check sha256).',
  )
  return 0
}

function printVerify(result: ModelVerifyResult, ctx: CliContext): void {
  for (const f of result.files) {
    ctx.io.out(
      `  ${f.ok ? 'ok  ' : 'FAIL'} ${f.name}${f.problem ? `: ${f.problem}` : ''}${f.cached ? ' (cached hash)' : ''}`,
    )
  }
  for (const g of result.graphs) {
    ctx.io.out(
      `  ${g.ok ? 'ok  ' : 'FAIL'} ${g.file}: inputs and outputs ${g.ok ? 'match the manifest' : 'disagree'}`,
    )
    for (const issue of g.issues) ctx.io.out(`         ${issue.path}: ${issue.message}`)
  }
}

export async function modelsVerify(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...modelOptions,
      'no-graphs': { type: 'boolean' },
      rehash: { type: 'boolean' },
    },
  })
  if (positionals.length > 1) {
    ctx.io.err('models verify takes at most one folder')
    return 2
  }
  const dir = await resolveModelDir({ ...values, ...(positionals[0] ? { model: positionals[0] } : {}) })
  const bar = new ProgressBar(ctx.progress, 'verify')
  let result: ModelVerifyResult
  try {
    result = await ctx.client().call(
      'models.verify',
      { dir, hashes: true, graphs: values['no-graphs'] !== true, force: values.rehash === true },
      {
        onProgress: (p) => {
          if (p.phase === 'hash') {
            bar.update(p.bytesDone, p.bytesTotal, `${p.fileIndex + 1}/${p.fileCount} ${p.file}`)
          } else {
            bar.update(1, 1, `opening ${p.file}`)
          }
        },
      },
    )
  } finally {
    bar.finish()
  }
  ctx.io.out(`${result.id} in ${result.dir}`)
  printVerify(result, ctx)
  if (!result.ok) {
    const files = result.files.filter((f) => !f.ok).length
    const graphs = result.graphs.filter((g) => !g.ok).length
    ctx.io.err(`verify failed: ${files} file(s) and ${graphs} graph(s) do not match the manifest`)
    return 1
  }
  ctx.io.out('All files match their sizes and sha256; every graph matches the manifest.')
  return 0
}

export async function hostInfo(ctx: CliContext): Promise<number> {
  const info = await ctx.client().call('host.info', {})
  ctx.io.out(
    `onnxruntime-node ${info.versions.onnxruntime}, node ${info.versions.node}, ${info.platform}-${info.arch}`,
  )
  ctx.io.out(`provider ladder: ${info.ladder.join(' -> ')}`)
  ctx.io.out(
    `backends in this build: ${info.backends.map((b) => `${b.name}${b.bundled ? '' : ' (installed separately)'}`).join(', ')}`,
  )
  return 0
}
