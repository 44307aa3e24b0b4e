/**
 * worker_threads entry of the inference host: runs the pure KDE of VAR-Scaling so that large
 * candidate sets never stall the host's message loop. No onnxruntime here.
 */
import { parentPort } from 'node:worker_threads'
import { kdeDensities, type KdeInput } from '../../src-shared/engine/kde'
import { errorToWire } from '../../src-shared/protocol'

export interface KdeJob {
  readonly id: number
  readonly input: KdeInput
}

const port = parentPort
if (!port) throw new Error('kde-worker.ts must run as a worker thread')

port.on('message', (job: KdeJob) => {
  try {
    const result = kdeDensities(job.input)
    const transfer = [result.densities.buffer, result.bandwidths.buffer].filter(
      (b): b is ArrayBuffer => b instanceof ArrayBuffer,
    )
    port.postMessage({ id: job.id, result }, transfer)
  } catch (error) {
    port.postMessage({ id: job.id, error: errorToWire(error) })
  }
})
