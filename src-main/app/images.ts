/** One history image for the renderer: the PNG as a data URL, and its parameters read back from it. */
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import type { ImageEntry, ImageParams } from '../../src-shared/ipc'
import { JSON_KEYWORD, pngDataUrl, readTextChunks } from '../storage/png'
import { fsProblem, StorageError } from './errors'
import type { History } from './history'

/** The PNG of a record, read only from inside the output folder and never through a link. */
async function readPng(entry: ImageEntry, history: History): Promise<Buffer> {
  const path = await history.imagePath(entry)
  try {
    return await readFile(path)
  } catch (error) {
    throw new StorageError(
      `${fsProblem('read', path, error)}. If the file was moved or deleted outside VAR Studio, delete the entry from the history.`,
      { cause: error },
    )
  }
}

export async function imageDataUrl(entry: ImageEntry, history: History): Promise<{ dataUrl: string }> {
  return { dataUrl: pngDataUrl(await readPng(entry, history)) }
}

/** The studio's JSON text chunk in its PNGs (the fields read back; others pass through). */
export const chunkSchema = z.looseObject({
  model: z.looseObject({ id: z.string() }),
  classId: z.number().int().min(0),
  seed: z.number().int().min(0),
  strategy: z.record(z.string(), z.unknown()),
  sampling: z.object({
    cfg: z.number(),
    top_k: z.number(),
    top_p: z.number(),
    more_smooth: z.boolean().optional(),
  }),
})

/** Reads the exact JSON chunk of the PNG; when it was left out (or the file is gone), the record. */
export async function imageParams(entry: ImageEntry, history: History): Promise<ImageParams> {
  const fromRecord: ImageParams = {
    modelId: entry.modelId,
    classId: entry.classId,
    seed: entry.seed,
    strategy: entry.strategy,
    sampling: entry.sampling,
    parameters: entry.parameters,
  }
  let chunks: Record<string, string>
  try {
    chunks = readTextChunks(await readPng(entry, history))
  } catch {
    return fromRecord
  }
  if (!Object.hasOwn(chunks, JSON_KEYWORD)) return fromRecord
  const text = chunks[JSON_KEYWORD]
  try {
    const json = chunkSchema.parse(JSON.parse(text))
    return {
      modelId: json.model.id,
      classId: json.classId,
      seed: json.seed,
      strategy: json.strategy,
      sampling: json.sampling,
      parameters: Object.hasOwn(chunks, 'parameters') ? chunks.parameters : entry.parameters,
    }
  } catch {
    return fromRecord
  }
}
