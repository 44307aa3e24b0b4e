/**
 * Matching what a batch row says to a class of a class-conditional model, in an order people can
 * predict, and saying which rule matched:
 *
 * 1. an id ("7") or the exact name in any case and punctuation ("ankle boot" = "Ankle boot");
 * 2. a name, or one part of a name split at "/" ("top" of "T-shirt/top"), found among the words of
 *    a prompt, also as singular and with adjacent words joined ("t shirt" = "T-shirt"); a name
 *    inside a longer match does not count ("a t-shirt" is T-shirt/top, not Shirt), and two
 *    different classes are reported as ambiguous ("a shirt and a coat");
 * 3. WordNet (wordnet-classes.ts): a prompt's nouns, by their synonyms and the categories they name
 *    ("a photo of a puppy" finds the dog classes, "a big cat" tiger, lion, ...). A noun that names
 *    one class is that class; one that names a category of several asks which (an error listing
 *    them) unless the caller spreads the images over the category (`category: spread` in a batch
 *    file);
 * 4. the nearest name by edit distance, when it is a likely typo (at most 1 edit per 4 letters).
 */
import { classListText, levenshtein, nearestNames, normalizeName } from '../cli/classes'
import { type WordNet, wordnet } from './wordnet'
import { type ClassTree, classTree, type PromptClasses, promptClasses } from './wordnet-classes'

export type ClassMatch =
  | { readonly ok: true; readonly classId: number; readonly how: string }
  | { readonly ok: false; readonly error: string }

/** What a prompt naming a category does: ask which class (an error), or spread over its classes. */
export type CategoryChoice = 'ask' | 'spread'

export type ClassesMatch =
  | { readonly ok: true; readonly classIds: readonly number[]; readonly how: string }
  | { readonly ok: false; readonly error: string }

/** How many class names a message lists before "and N more". */
const LISTED = 8

function singular(w: string): string {
  if (w.length > 4 && w.endsWith('ies')) return `${w.slice(0, -3)}y`
  if (w.length > 3 && /(ses|xes|zes|ches|shes)$/.test(w)) return w.slice(0, -2)
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) return w.slice(0, -1)
  return w
}

/** Words of a prompt, their singulars, and runs of up to 3 adjacent words joined. */
function promptTerms(text: string): Set<string> {
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== '')
  const terms = new Set<string>()
  for (let i = 0; i < words.length; i++) {
    let joined = ''
    for (let j = i; j < Math.min(words.length, i + 3); j++) {
      joined += words[j]
      terms.add(joined)
      terms.add(singular(joined))
    }
  }
  return terms
}

/** Each class's names: the whole name and its parts split at "/", normalised. */
function nameParts(names: readonly string[]): { classId: number; key: string; label: string }[] {
  return names.flatMap((name, classId) => {
    const parts = [name, ...(name.includes('/') ? name.split('/') : [])]
    return parts.map((p) => ({ classId, key: normalizeName(p), label: p.trim() })).filter((p) => p.key !== '')
  })
}

const trees = new Map<string, ClassTree>()

/** WordNet and the model's classes placed in it (kept for the last few class lists). */
function wordnetFor(names: readonly string[]): { wn: WordNet; tree: ClassTree } | { error: string } {
  let wn: WordNet
  try {
    wn = wordnet()
  } catch (error) {
    return { error: (error as Error).message }
  }
  const key = names.join('\n')
  let tree = trees.get(key)
  if (!tree) {
    tree = classTree(wn, names)
    if (trees.size >= 4) trees.delete(trees.keys().next().value ?? '')
    trees.set(key, tree)
  }
  return { wn, tree }
}

function listNames(ids: readonly number[], names: readonly string[]): string {
  const shown = ids.slice(0, LISTED).map((i) => names[i])
  return ids.length > LISTED ? `${shown.join(', ')} and ${ids.length - LISTED} more` : shown.join(', ')
}

/**
 * Why a prompt's words were read as these classes, in words: `"big cat": a category of 6 classes`,
 * `"puppy" (a young dog) is a kind of dog: a category of 118 classes`, `"boots" (boot): Ankle boot,
 * a kind of boot`.
 */
function wordnetHow(wn: WordNet, tree: ClassTree, hit: PromptClasses, names: readonly string[]): string {
  const sense = wn.name(hit.offset)
  const gloss = wn.synset(hit.offset).gloss.split(';')[0].trim()
  const note = hit.via.length > 0 && gloss.length <= 60 ? gloss : sense
  const said = hit.words === note ? `"${hit.words}"` : `"${hit.words}" (${note})`
  const what =
    hit.via.length > 0 ? `${said} is a kind of ${hit.via.map((v) => wn.name(v)).join(' and ')}` : said
  if (hit.classIds.length > 1) return `WordNet: ${what}: a category of ${hit.classIds.length} classes`
  const id = hit.classIds[0]
  const own = tree.senses[id]
  const same = own !== undefined && !own.kind && (own.offset === hit.offset || hit.via.includes(own.offset))
  if (same) return `WordNet: ${what}: ${names[id]}`
  return `WordNet: ${what}: ${names[id]}, a kind of ${hit.via.length > 0 ? wn.name(hit.via[0]) : sense}`
}

/** A class id, name or prompt read as one class; a category of several asks which. */
export function matchClass(input: string | number, names: readonly string[]): ClassMatch {
  const m = matchClasses(input, names, 'ask')
  if (!m.ok) return m
  return { ok: true, classId: m.classIds[0], how: m.how }
}

/**
 * A class id, name or prompt read as classes: one, or with `spread` every class of a category the
 * prompt names.
 */
export function matchClasses(
  input: string | number,
  names: readonly string[],
  category: CategoryChoice = 'ask',
): ClassesMatch {
  const one = (classId: number, how: string): ClassesMatch => ({ ok: true, classIds: [classId], how })
  const text = String(input).trim()
  if (text === '') return { ok: false, error: 'empty: give a class id, a class name or a prompt' }
  if (/^\d+$/.test(text)) {
    const id = Number(text)
    if (id < names.length) return one(id, `class id ${id}`)
    return { ok: false, error: `class id ${id} is out of range; must be in [0, ${names.length - 1}]` }
  }
  const key = normalizeName(text)
  const exact = names.findIndex((n) => normalizeName(n) === key)
  if (exact >= 0 && key !== '') return one(exact, 'exact name')

  const terms = promptTerms(text)
  const parts = nameParts(names)
  const found = parts.filter((p) => terms.has(p.key) || terms.has(singular(p.key)))
  if (found.length > 0) {
    // A name inside a longer match is part of it ("shirt" in "tshirt"), not a second class.
    const best = found.filter((p) => !found.some((q) => q.key !== p.key && q.key.includes(p.key)))
    const ids = [...new Set(best.map((p) => p.classId))]
    if (ids.length === 1) return one(ids[0], `the word "${best[0].label}"`)
    return {
      ok: false,
      error: `"${text}" names several classes (${ids.map((i) => names[i]).join(', ')}); name one of them`,
    }
  }

  const semantic = wordnetFor(names)
  if ('tree' in semantic) {
    const { wn, tree } = semantic
    const all = promptClasses(wn, tree, text)
    // nouns with classes below them come before those read through a hypernym
    const direct = all.filter((h) => h.via.length === 0)
    const hits = direct.length > 0 ? direct : all
    // the most specific reading when one contains the others ("a husky, a dog": the husky)
    const narrowest = [...hits].sort((a, b) => a.classIds.length - b.classIds.length).at(0)
    if (narrowest !== undefined) {
      const inside = hits.every((h) => narrowest.classIds.every((id) => h.classIds.includes(id)))
      if (!inside) {
        return {
          ok: false,
          error: `"${text.slice(0, 80)}" names different classes: ${hits
            .map((h) => `"${h.words}" (${listNames(h.classIds, names)})`)
            .join(', ')}; name one of them`,
        }
      }
      const how = wordnetHow(wn, tree, narrowest, names)
      if (narrowest.classIds.length === 1) return one(narrowest.classIds[0], how)
      if (category === 'spread') {
        return {
          ok: true,
          classIds: narrowest.classIds,
          how: `${how} (${listNames(narrowest.classIds, names)})`,
        }
      }
      return {
        ok: false,
        error:
          `${text === narrowest.words ? '' : `"${text.slice(0, 80)}": `}${how.replace(/^WordNet: /, '')} (${listNames(narrowest.classIds, names)}); ` +
          'name one of them, or spread the images over them (category: spread)',
      }
    }
  }

  let near: { classId: number; d: number; term: string; label: string } | undefined
  for (const term of terms) {
    for (const p of parts) {
      if (Math.abs(term.length - p.key.length) > 2) continue
      const d = levenshtein(term, p.key)
      if (d <= Math.max(1, Math.floor(p.key.length / 4)) && (!near || d < near.d)) {
        near = { classId: p.classId, d, term, label: p.label }
      }
    }
  }
  if (near)
    return one(
      near.classId,
      `"${near.term}" read as "${near.label}" (${near.d} edit${near.d > 1 ? 's' : ''})`,
    )
  const suggest = nearestNames(text, names)
  const hint = suggest.length > 0 ? ` Did you mean ${suggest.map((n) => `"${n}"`).join(' or ')}?` : ''
  const unread = 'error' in semantic ? ` (WordNet was not used: ${semantic.error})` : ''
  return {
    ok: false,
    error: `unknown class "${text.slice(0, 80)}".${hint} ${classListText(names, false)}${unread}`,
  }
}
