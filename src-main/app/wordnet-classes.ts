/**
 * A model's classes placed in WordNet by their names, and the classes a prompt's nouns mean.
 *
 * Each class name is looked up as a WordNet noun ("great white shark" -> great_white_shark); a name
 * WordNet lacks is read by the part it has, the rest telling its senses apart ("crane bird": the
 * crane whose hypernyms or gloss mention a bird; "Ankle boot": a kind of boot). A name with several
 * senses takes the one that sits deepest among the other classes' senses (a model's classes share
 * a domain: "Coat" among Shirt and Dress is the garment, "kite" among birds is the bird), then
 * WordNet's most frequent sense. Classes that share a name (the ImageNet devkit's two "crane"s)
 * take its senses in WordNet's file order, which is ImageNet's class order.
 *
 * A prompt's nouns (longest runs of words first) then find the classes below the sense they name
 * ("big cat" -> tiger, lion, ...), or below its hypernyms when nothing is below it ("puppy", a
 * young dog -> the dog classes).
 */
import type { WordNet } from './wordnet'

export interface ClassSense {
  readonly offset: number
  /** true when the class is a kind of the synset (its name's head noun), not the synset itself */
  readonly kind: boolean
  /** the WordNet lemma the name was found by */
  readonly lemma: string
}

export interface ClassTree {
  /** each class's synset, undefined where WordNet has none of its words */
  readonly senses: readonly (ClassSense | undefined)[]
  /** the classes at or below each synset */
  readonly below: ReadonlyMap<number, readonly number[]>
}

/** Words that say how a picture is made, not what it shows. */
const NOT_SUBJECTS = new Set(
  'a an the this that some one two three of in on at by with and or for from to photo photograph picture image pic shot snapshot view drawing painting sketch render rendering illustration closeup close up high quality detailed kind type sort style portrait'.split(
    ' ',
  ),
)

export const lemmaOf = (words: readonly string[]): string => words.join('_').toLowerCase()

/** WordNet's regular noun endings (morphy), the word itself first. */
export function baseForms(word: string): string[] {
  const forms = [word]
  const rules: [string, string][] = [
    ['ies', 'y'],
    ['ses', 's'],
    ['xes', 'x'],
    ['zes', 'z'],
    ['ches', 'ch'],
    ['shes', 'sh'],
    ['men', 'man'],
    ['s', ''],
  ]
  for (const [end, put] of rules) {
    if (word.length > end.length + 1 && word.endsWith(end)) forms.push(word.slice(0, -end.length) + put)
  }
  return forms
}

/** Words of a name or prompt, lower case; apostrophes and hyphens stay inside words. */
export function wordsOf(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}'-]+/u)
    .map((w) => w.replace(/^['-]+|['-]+$/g, ''))
    .filter((w) => w !== '')
}

interface Candidate {
  readonly offset: number
  readonly kind: boolean
  readonly lemma: string
  /** context words of the name found in the sense's lemmas, hypernyms' lemmas or gloss */
  readonly context: number
}

function contextScore(wn: WordNet, offset: number, context: readonly string[]): number {
  if (context.length === 0) return 0
  const text = new Set<string>()
  for (const a of wn.ancestors(offset)) {
    for (const l of wn.synset(a).lemmas) for (const w of l.toLowerCase().split(/[_\s]+/)) text.add(w)
  }
  for (const w of wordsOf(wn.synset(offset).gloss)) text.add(w)
  return context.filter((w) => baseForms(w).some((f) => text.has(f))).length
}

/** The senses a class name may have: the whole name, else its parts with the rest as context. */
function candidates(wn: WordNet, name: string): Candidate[] {
  for (const part of [name, ...(name.includes('/') ? name.split('/') : [])]) {
    const words = wordsOf(part)
    if (words.length === 0) continue
    const whole = wn.senses(lemmaOf(words))
    if (whole.length > 0)
      return whole.map((offset) => ({ offset, kind: false, lemma: lemmaOf(words), context: 0 }))
    const last = words.length - 1
    const plural = baseForms(words[last])
      .slice(1)
      .map((f) => [...words.slice(0, last), f])
      .find((w) => wn.senses(lemmaOf(w)).length > 0)
    if (plural)
      return wn
        .senses(lemmaOf(plural))
        .map((offset) => ({ offset, kind: false, lemma: lemmaOf(plural), context: 0 }))
  }
  // the longest run of words WordNet has; the words around it tell its senses apart
  const words = wordsOf(name)
  const found: Candidate[] = []
  for (let len = words.length - 1; len >= 1 && found.length === 0; len--) {
    for (let i = 0; i + len <= words.length; i++) {
      const run = words.slice(i, i + len)
      const lemma = lemmaOf(run)
      const context = [...words.slice(0, i), ...words.slice(i + len)].filter((w) => !NOT_SUBJECTS.has(w))
      // a run at the end is the head noun ("ankle boot" is a kind of boot); one before a word
      // that only tells it apart ("crane bird") is the class itself
      const kind = i + len === words.length
      for (const offset of wn.senses(lemma)) {
        found.push({ offset, kind, lemma, context: contextScore(wn, offset, context) })
      }
    }
  }
  const best = Math.max(0, ...found.map((c) => c.context))
  const matched = found.filter((c) => c.context === best)
  // a run that matched its context names the class itself
  return best > 0 ? matched.map((c) => ({ ...c, kind: false })) : matched.filter((c) => c.kind)
}

/** WordNet's physical_entity: what a picture can show (a sense outside it is a game, a dance, a blow). */
const PHYSICAL_ENTITY = 1930
/** how many classes on each side of a class tell its sense (a class list groups its domains) */
const NEIGHBOURS = 12

/**
 * Places every class; `names` in class order. A name's sense is chosen by, in turn: being a physical
 * thing, the name's other words, the depths of the deepest hypernyms it shares with the neighbouring
 * classes' senses (ImageNet's classes are in WordNet order, so neighbours share a domain; a short
 * list is all neighbours), and WordNet's sense order. No two classes take one synset: where two
 * would, the class whose name is the synset's earlier lemma keeps it ("skunk", not "polecat") and
 * the other takes its next sense.
 */
export function classTree(wn: WordNet, names: readonly string[]): ClassTree {
  const options = names.map((n) => candidates(wn, n))
  const ancestry = new Map<number, Set<number>>()
  const ancestorsOf = (o: number): Set<number> => {
    let a = ancestry.get(o)
    if (!a) ancestry.set(o, (a = wn.ancestors(o)))
    return a
  }
  // deepest common hypernym of two synsets
  const shared = (a: number, b: number): number => {
    const up = ancestorsOf(b)
    let best = 0
    for (const x of ancestorsOf(a)) if (up.has(x)) best = Math.max(best, wn.depth(x))
    return best
  }
  const physical = options.map((opts) =>
    opts.map((c) => (ancestorsOf(c.offset).has(PHYSICAL_ENTITY) ? 1 : 0)),
  )
  const order = (fit: (i: number, c: Candidate) => number) =>
    options.map((opts, i) => {
      const scored = opts.map((c, sense) => ({ c, sense, physical: physical[i][sense], fit: fit(i, c) }))
      scored.sort(
        (x, y) => y.physical - x.physical || y.c.context - x.c.context || y.fit - x.fit || x.sense - y.sense,
      )
      return scored.map((x) => x.c)
    })
  // first WordNet's order alone; then, twice, the fit with the neighbours' senses chosen so far
  let ranked = order(() => 0)
  for (let pass = 0; pass < 2; pass++) {
    const chosen = ranked.map((r) => r.at(0)?.offset)
    ranked = order((i, c) => {
      let fit = 0
      for (let j = Math.max(0, i - NEIGHBOURS); j <= Math.min(names.length - 1, i + NEIGHBOURS); j++) {
        const o = chosen[j]
        if (j !== i && o !== undefined) fit += shared(c.offset, o)
      }
      return fit
    })
  }
  // one synset per class: the stronger claim keeps it, the other moves to its next sense
  const pick = ranked.map(() => 0)
  const claim = (i: number): [number, number] => {
    const c = ranked[i][pick[i]]
    const position = wn.synset(c.offset).lemmas.findIndex((l) => l.toLowerCase() === c.lemma)
    return [-c.context, position < 0 ? 99 : position]
  }
  for (let round = 0; round < 8; round++) {
    const holders = new Map<number, number[]>()
    ranked.forEach((r, i) => {
      const c = r.at(pick[i])
      if (c) holders.set(c.offset, [...(holders.get(c.offset) ?? []), i])
    })
    let moved = false
    for (const ids of holders.values()) {
      if (ids.length < 2) continue
      const order = [...ids].sort((a, b) => {
        const [x, y] = [claim(a), claim(b)]
        return x[0] - y[0] || x[1] - y[1] || a - b
      })
      for (const i of order.slice(1)) {
        if (pick[i] + 1 < ranked[i].length) {
          pick[i]++
          moved = true
        }
      }
    }
    if (!moved) break
  }
  const senses: (ClassSense | undefined)[] = ranked.map((r, i) => {
    const c = r.at(pick[i])
    return c ? { offset: c.offset, kind: c.kind, lemma: c.lemma } : undefined
  })
  const below = new Map<number, number[]>()
  senses.forEach((s, classId) => {
    if (!s) return
    for (const a of ancestorsOf(s.offset)) below.set(a, [...(below.get(a) ?? []), classId])
  })
  return { senses, below }
}

export interface PromptClasses {
  /** the prompt's words WordNet read ("big cat") */
  readonly words: string
  /** the sense they were read as */
  readonly offset: number
  /** the hypernyms the classes were found under, when none are below the sense itself */
  readonly via: readonly number[]
  readonly classIds: readonly number[]
}

/** The classes each noun of a prompt means, longest runs of words first; nouns without classes are left out. */
export function promptClasses(wn: WordNet, tree: ClassTree, text: string): PromptClasses[] {
  const words = wordsOf(text)
  const used = new Array<boolean>(words.length).fill(false)
  const found: PromptClasses[] = []
  for (let len = Math.min(4, words.length); len >= 1; len--) {
    for (let i = 0; i + len <= words.length; i++) {
      if (used.slice(i, i + len).some(Boolean)) continue
      const run = words.slice(i, i + len)
      if (len === 1 && NOT_SUBJECTS.has(run[0])) continue
      const hit = readRun(wn, tree, run)
      if (!hit) continue
      used.fill(true, i, i + len)
      found.push({ ...hit, words: run.join(' ') })
    }
  }
  return found
}

function readRun(
  wn: WordNet,
  tree: ClassTree,
  run: readonly string[],
): Omit<PromptClasses, 'words'> | undefined {
  const last = run.length - 1
  const forms = baseForms(run[last]).map((f) => lemmaOf([...run.slice(0, last), f]))
  const senses = [...new Set(forms.flatMap((f) => wn.senses(f)))]
  if (senses.length === 0) return undefined
  for (const offset of senses) {
    const classIds = tree.below.get(offset)
    if (classIds) return { offset, via: [], classIds }
  }
  // nothing below any sense: the classes below the first sense's hypernyms ("puppy": a young dog)
  for (const offset of senses) {
    const via = wn.synset(offset).hypernyms.filter((h) => tree.below.has(h))
    if (via.length === 0) continue
    const classIds = [...new Set(via.flatMap((h) => tree.below.get(h) ?? []))].sort((a, b) => a - b)
    return { offset, via, classIds }
  }
  return undefined
}
