/**
 * PNG Info: the parameters a dropped or opened PNG carries, and what of them the Generate form can
 * load. The studio's own PNGs have an exact JSON chunk (`var-studio`); any PNG with A1111-style
 * `parameters` text is read from that (prompt, seed, CFG scale, ..., and the studio's own keys).
 * The bytes are untrusted (../storage/png-info.ts); a path is read only where the host allows it.
 */
import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { z } from 'zod'
import { StudioError } from '../../src-shared/errors'
import type { IpcParsedArgs, ModelView, PngInfo, PngLoad } from '../../src-shared/ipc'
import { JSON_KEYWORD, PARAMETERS_KEYWORD } from '../storage/png'
import {
  MAX_PNG_BYTES,
  MAX_TEXT_BYTES,
  parseParameters,
  parsePairs,
  PngFileError,
  readPngTexts,
} from '../storage/png-info'
import { matchClass } from './class-match'
import { fsProblem } from './errors'
import { chunkSchema } from './images'

type Source = IpcParsedArgs<'png:info'>['source']

/** Other text chunks shown, each cut to this many characters. */
const SHOWN_TEXT = 2000

async function sourceBytes(
  source: Source,
  allowPaths: boolean,
): Promise<{ bytes: Uint8Array; name: string }> {
  if (source.kind === 'content') {
    const name = basename(source.name)
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(source.base64))
      throw new PngFileError(`${name}: the upload is not valid base64`)
    return { bytes: Buffer.from(source.base64, 'base64'), name }
  }
  const name = basename(source.path)
  if (!allowPaths)
    throw new PngFileError('This host reads PNGs from uploads only; drop or choose the file in the page')
  try {
    const s = await stat(source.path)
    if (!s.isFile()) throw new PngFileError(`${source.path} is not a file`)
    if (s.size > MAX_PNG_BYTES)
      throw new PngFileError(`${name} is ${(s.size / 2 ** 20).toFixed(1)} MiB; PNG Info reads up to 16 MiB`)
    return { bytes: await readFile(source.path), name }
  } catch (error) {
    if (error instanceof StudioError) throw error
    throw new PngFileError(fsProblem('read', source.path, error), { cause: error })
  }
}

/**
 * The studio's JSON chunk (run-output.ts imageJson) as History reads it, with its free-text fields
 * bounded: a dropped file comes from anywhere.
 */
const studioChunkSchema = chunkSchema.extend({
  model: z.looseObject({ id: z.string().max(200) }),
  className: z.string().max(500).optional(),
})

const num = (v: string | undefined): number | undefined => {
  if (v === undefined || v.trim() === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/** The studio's `Strategy settings: "N: 50, k: 10, searchScales: 1 2, ..."` back into knobs. */
function strategyFromText(kind: string, settings: string | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { kind }
  for (const { key, value } of settings ? parsePairs(settings) : []) {
    if (key === 'searchScales') out[key] = value.split(/\s+/).filter(Boolean).map(Number)
    else if (value === 'true' || value === 'false') out[key] = value === 'true'
    else out[key] = num(value) ?? value
  }
  return out
}

interface Found {
  modelName?: string
  className?: string
  prompt?: string
  seed?: number
  strategy?: Record<string, unknown>
  sampling: NonNullable<PngLoad['sampling']>
}

function fromStudioJson(text: string): Found | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  const r = studioChunkSchema.safeParse(parsed)
  if (!r.success) return undefined
  const j = r.data
  return {
    modelName: j.model.id,
    ...(j.className !== undefined ? { className: j.className } : {}),
    seed: j.seed,
    strategy: j.strategy,
    sampling: { ...j.sampling },
    // the class id only counts for the model that made it; the name is matched elsewhere
    prompt: String(j.classId),
  }
}

function fromParameters(prompt: string, pairs: readonly { key: string; value: string }[]): Found {
  const get = (key: string) => pairs.find((p) => p.key.toLowerCase() === key.toLowerCase())?.value
  const seed = num(get('Seed'))
  const cfg = num(get('CFG scale'))
  const topK = num(get('Top-k'))
  const topP = num(get('Top-p'))
  const smooth = get('More smooth')
  const kind = get('Strategy')
  const model = get('Model')
  const sampling: Found['sampling'] = {
    ...(cfg !== undefined && cfg >= 0 ? { cfg } : {}),
    ...(topK !== undefined && Number.isInteger(topK) && topK >= 0 ? { top_k: topK } : {}),
    ...(topP !== undefined && topP >= 0 && topP <= 1 ? { top_p: topP } : {}),
    ...(smooth === 'true' || smooth === 'false' ? { more_smooth: smooth === 'true' } : {}),
  }
  return {
    ...(model ? { modelName: model } : {}),
    ...(prompt ? { prompt } : {}),
    ...(seed !== undefined && Number.isSafeInteger(seed) && seed >= 0 ? { seed } : {}),
    ...(kind ? { strategy: strategyFromText(kind, get('Strategy settings')) } : {}),
    sampling,
  }
}

/** Reads a PNG's parameters; throws PngFileError with a plain message for a file that is no PNG. */
export async function pngInfo(
  args: IpcParsedArgs<'png:info'>,
  models: { list(): Promise<ModelView[]> },
  allowPaths: boolean,
): Promise<PngInfo> {
  const { bytes, name } = await sourceBytes(args.source, allowPaths)
  const png = readPngTexts(bytes, name)
  const notes = [...png.skipped]
  const byKeyword = new Map(png.texts.map((t) => [t.keyword, t]))
  const parametersChunk = byKeyword.get(PARAMETERS_KEYWORD)
  const jsonChunk = byKeyword.get(JSON_KEYWORD)
  if (parametersChunk?.cut) notes.push(`the parameters text was cut at ${MAX_TEXT_BYTES / 1024} KiB`)
  const parsed = parametersChunk ? parseParameters(parametersChunk.text) : undefined
  const fields = parsed
    ? [
        ...(parsed.prompt ? [{ key: 'Prompt', value: parsed.prompt }] : []),
        ...(parsed.negative !== undefined ? [{ key: 'Negative prompt', value: parsed.negative }] : []),
        ...parsed.pairs,
      ]
    : []
  const studio = jsonChunk ? fromStudioJson(jsonChunk.text) : undefined
  if (jsonChunk && !studio)
    notes.push(`its ${JSON_KEYWORD} chunk is not the studio's parameters; the text was read instead`)
  const found = studio ?? (parsed ? fromParameters(parsed.prompt, parsed.pairs) : undefined)
  const from: PngInfo['from'] = studio ? 'var-studio' : parsed ? 'parameters' : 'none'

  const texts = png.texts
    .filter((t) => t.keyword !== PARAMETERS_KEYWORD && !(studio && t.keyword === JSON_KEYWORD))
    .map((t) => ({
      keyword: t.keyword,
      text: t.text.length > SHOWN_TEXT ? `${t.text.slice(0, SHOWN_TEXT)}…` : t.text,
    }))
  const base = { file: name, width: png.width, height: png.height, from, fields, texts }
  const withParameters = parametersChunk ? { ...base, parameters: parametersChunk.text } : base
  if (!found) {
    if (from === 'none') notes.push('it carries no generation parameters (no parameters or var-studio text)')
    return { ...withParameters, notes }
  }

  // The model: the one the PNG names when it is installed, else the form's own.
  const list = (await models.list()).filter((m) => m.ok)
  const named = found.modelName ? list.find((m) => m.id === found.modelName) : undefined
  if (found.modelName && !named) {
    notes.push(
      `made with the model "${found.modelName}", which is not installed here: the chosen model is kept`,
    )
  }
  const model = named ?? list.find((m) => m.id === args.modelId)
  let classId: number | undefined
  if (model) {
    // the studio's own class id, for its own model; otherwise the class name or the prompt, matched
    const useId = studio && named && found.prompt !== undefined
    const text = useId ? found.prompt : (found.className ?? found.prompt)
    if (text !== undefined) {
      const hit = matchClass(text, model.classNames)
      if (hit.ok) {
        classId = hit.classId
        if (!useId)
          notes.push(`"${text.slice(0, 80)}" read as the class ${model.classNames[hit.classId]} (${hit.how})`)
      } else notes.push(`no class of ${model.displayName} chosen: ${hit.error}`)
    }
  }
  const load: PngLoad = {
    ...(named ? { modelId: named.id } : {}),
    ...(classId !== undefined ? { classId } : {}),
    ...(found.seed !== undefined ? { seed: found.seed } : {}),
    ...(found.strategy ? { strategy: found.strategy } : {}),
    ...(Object.keys(found.sampling).length > 0 ? { sampling: found.sampling } : {}),
  }
  return { ...withParameters, notes, ...(Object.keys(load).length > 0 ? { load } : {}) }
}
