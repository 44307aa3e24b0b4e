/**
 * `var-studio models list | show | add | remove | dir | verify`. Registered folders and the models
 * directory live in the user's settings file (../storage/user-models), shared with the studio.
 */
import { relative, isAbsolute } from 'node:path'
import { parseArgs } from 'node:util'
import { ModelLoadError } from '../../src-shared/errors'
import type { ModelSummary, ModelVerifyResult } from '../../src-shared/protocol'
import { inspectModelFolder } from '../storage/model-folder'
import { listModels, resolveModel } from '../storage/model-registry'
import {
  addUserModel,
  defaultHome,
  loadUserModels,
  removeUserModel,
  setModelsDir,
  type UserModels,
  userModelFolders,
  UserModelsError,
} from '../storage/user-models'
import { type CliContext, modelOptions, userModelDirs } from './context'
import { ProgressBar } from './progress'

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`

/**
 * Everything the user pointed us at: --models-dir and VAR_STUDIO_MODELS, registered folders, the
 * models dir. A damaged settings file only costs the registered models here (with a warning), so
 * looking at or verifying a folder still works; add, remove and dir report it as an error.
 */
async function userEntries(
  ctx: CliContext,
  flags: readonly string[] | undefined,
): Promise<{ user: UserModels; dirs: string[] }> {
  const home = defaultHome()
  let user: UserModels
  try {
    user = await loadUserModels(home)
  } catch (error) {
    if (!(error instanceof UserModelsError)) throw error
    ctx.io.err(`Warning: registered models skipped. ${error.message}`)
    user = { home, file: '', models: [] }
  }
  return { user, dirs: [...userModelDirs(flags), ...userModelFolders(user)] }
}

/** Like context's resolveModelDir, but registered ids and the models dir count too. */
async function resolveRef(
  ctx: CliContext,
  ref: string | undefined,
  flags: readonly string[] | undefined,
): Promise<{ dir: string; user: UserModels }> {
  const { user, dirs } = await userEntries(ctx, flags)
  return { dir: await resolveModel(ref, { userDirs: dirs }), user }
}

function isInside(dir: string, parent: string): boolean {
  const rel = relative(parent, dir)
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
}

/** Why a model is listed: shipped, registered, found in the models dir, or named by a flag. */
function originOf(m: ModelSummary, user: UserModels): string {
  if (m.origin === 'shipped') return 'shipped'
  if (user.models.some((r) => r.dir === m.dir)) return 'registered'
  if (user.modelsDir && isInside(m.dir, user.modelsDir)) return 'models dir'
  return 'extra'
}

export async function modelsList(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseArgs({ args, options: { 'models-dir': modelOptions['models-dir'] } })
  const { user, dirs } = await userEntries(ctx, values['models-dir'])
  const models = await listModels({ userDirs: dirs })
  if (models.length === 0) {
    ctx.io.err('No models found. Register one with `var-studio models add <folder>`, or choose a models')
    ctx.io.err('directory with `var-studio models dir <path>`.')
    return 1
  }
  for (const m of models) {
    const origin = originOf(m, user)
    if (m.ok) {
      ctx.io.out(
        `${m.id ?? '?'}  ${m.displayName ?? ''}  [${origin}]  ${m.numClasses ?? '?'} classes, ` +
          `${m.imageSize ?? '?'}px, ${mib(m.bytes ?? 0)}  ${m.dir}`,
      )
    } else {
      ctx.io.out(`(invalid)  [${origin}]  ${m.dir}: ${m.error?.message.split('\n')[0] ?? 'unreadable'}`)
    }
  }
  // A registered folder that vanished (moved, unmounted drive) is listed above as invalid; say how to drop it.
  const gone = models.filter((m) => !m.ok && user.models.some((r) => r.dir === m.dir))
  for (const m of gone) {
    const id = user.models.find((r) => r.dir === m.dir)?.id ?? m.dir
    ctx.io.err(
      `Registered model "${id}" cannot be read at ${m.dir}; \`var-studio models remove ${id}\` forgets it.`,
    )
  }
  return 0
}

/** `models show` (alias `inspect`): a model's manifest, where it comes from, and a check of its files. */
export async function modelsShow(args: string[], ctx: CliContext, name = 'show'): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...modelOptions, hashes: { type: 'boolean', default: false } },
  })
  if (positionals.length > 1) {
    ctx.io.err(`models ${name} takes at most one model (a folder or an id)`)
    return 2
  }
  const { dir, user } = await resolveRef(ctx, positionals.at(0) ?? values.model, values['models-dir'])
  const report = await inspectModelFolder(dir, { hashes: values.hashes })
  const m = report.manifest
  const registered = user.models.find((r) => r.dir === dir)
  ctx.io.out(`${m.display_name} (${m.id}, ${m.format}) in ${dir}`)
  if (registered) ctx.io.out(`  registered: ${registered.addedAt}`)
  else if (user.modelsDir && isInside(dir, user.modelsDir))
    ctx.io.out(`  in the models directory ${user.modelsDir}`)
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

/** The inference host's full check (sizes, sha256, every graph's inputs and outputs) with a progress bar. */
async function hostVerify(
  ctx: CliContext,
  label: string,
  dir: string,
  options: { graphs: boolean; force: boolean },
): Promise<ModelVerifyResult> {
  const bar = new ProgressBar(ctx.progress, label)
  try {
    return await ctx.client().call(
      'models.verify',
      { dir, hashes: true, graphs: options.graphs, force: options.force },
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
}

/**
 * Before `generate` runs a model folder: the sha256 of every file against its manifest, through the
 * host's hash cache (a file whose size and modification time are unchanged is not read again, as
 * with `models verify`). A mismatch stops the command; `skip` (--no-verify) says that it was not
 * checked.
 */
export async function checkBeforeUse(ctx: CliContext, dir: string, skip: boolean): Promise<void> {
  if (skip) {
    ctx.io.err(`sha256 of ${dir} not checked (--no-verify)`)
    return
  }
  const result = await hostVerify(ctx, 'sha256', dir, { graphs: false, force: false })
  const bad = result.files.filter((f) => !f.ok)
  if (bad.length > 0) {
    throw new ModelLoadError(
      `${dir} does not match its manifest (${bad.map((f) => `${f.name}: ${f.problem ?? 'does not match'}`).join('; ')}); ` +
        `nothing was generated. Check the folder with: var-studio models verify ${dir}`,
    )
  }
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
  const { dir } = await resolveRef(ctx, positionals.at(0) ?? values.model, values['models-dir'])
  const result = await hostVerify(ctx, 'verify', dir, {
    graphs: values['no-graphs'] !== true,
    force: values.rehash === true,
  })
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

export async function modelsAdd(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'no-graphs': { type: 'boolean' }, rehash: { type: 'boolean' } },
  })
  const folder = positionals.at(0)
  if (folder === undefined || positionals.length > 1) {
    ctx.io.err('Usage: var-studio models add <folder> [--no-graphs] [--rehash]')
    return 2
  }
  let verified: ModelVerifyResult | undefined
  const added = await addUserModel(defaultHome(), folder, {
    verify: async (dir) => {
      verified = await hostVerify(ctx, 'check', dir, {
        graphs: values['no-graphs'] !== true,
        force: values.rehash === true,
      })
      return verified
    },
  })
  if (verified) printVerify(verified, ctx)
  const m = added.manifest
  ctx.io.out(`Added ${m.id} (${m.display_name}) from ${added.model.dir}`)
  ctx.io.out(`Use it with --model ${m.id}; the files stay where they are.`)
  return 0
}

export async function modelsRemove(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { 'delete-files': { type: 'boolean', default: false } },
  })
  const ref = positionals.at(0)
  if (ref === undefined || positionals.length > 1) {
    ctx.io.err('Usage: var-studio models remove <id|folder> [--delete-files]')
    return 2
  }
  const removed = await removeUserModel(defaultHome(), ref, { deleteFiles: values['delete-files'] })
  if (removed.registered) ctx.io.out(`Removed ${removed.id} from your models.`)
  if (removed.deletedFiles) ctx.io.out(`Deleted ${removed.dir}.`)
  else if (values['delete-files']) ctx.io.out(`${removed.dir} was already gone; nothing to delete.`)
  else ctx.io.out(`Its files are still in ${removed.dir} (add --delete-files to delete them).`)
  return 0
}

export async function modelsDir(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { clear: { type: 'boolean', default: false } },
  })
  const home = defaultHome()
  if (positionals.length > 1 || (values.clear && positionals.length > 0)) {
    ctx.io.err('Usage: var-studio models dir [path | --clear]')
    return 2
  }
  const path = positionals.at(0)
  if (values.clear) {
    const user = await setModelsDir(home, undefined)
    ctx.io.out(`No models directory now (settings: ${user.file}).`)
    return 0
  }
  if (path === undefined) {
    const user = await loadUserModels(home)
    ctx.io.out(
      user.modelsDir
        ? user.modelsDir
        : `No models directory chosen (set one with: var-studio models dir <path>). Settings: ${user.file}`,
    )
    return 0
  }
  const user = await setModelsDir(home, path)
  const found = await listModels({
    userDirs: userModelFolders({ ...user, models: [] }),
    includeShipped: false,
  })
  ctx.io.out(`Models directory: ${user.modelsDir ?? path}`)
  ctx.io.out(
    `${found.filter((m) => m.ok).length} model(s) in it` +
      (found.some((m) => !m.ok) ? `, ${found.filter((m) => !m.ok).length} unreadable (see models list)` : ''),
  )
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
