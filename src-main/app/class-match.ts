/**
 * Matching what a batch row says to a class of a class-conditional model, in an order people can
 * predict, and saying which rule matched:
 *
 * 1. an id ("7") or the exact name in any case and punctuation ("ankle boot" = "Ankle boot");
 * 2. a name, or one part of a name split at "/" ("top" of "T-shirt/top"), found among the words of
 *    a prompt, also as singular and with adjacent words joined ("t shirt" = "T-shirt"); a name
 *    inside a longer match does not count ("a t-shirt" is T-shirt/top, not Shirt), and two
 *    different classes are reported as ambiguous ("a shirt and a coat");
 * 3. the nearest name by edit distance, when it is a likely typo (at most 1 edit per 4 letters).
 */
import { levenshtein, nearestNames, normalizeName } from '../cli/classes'

export type ClassMatch =
  | { readonly ok: true; readonly classId: number; readonly how: string }
  | { readonly ok: false; readonly error: string }

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

export function matchClass(input: string | number, names: readonly string[]): ClassMatch {
  const text = String(input).trim()
  if (text === '') return { ok: false, error: 'empty: give a class id, a class name or a prompt' }
  if (/^\d+$/.test(text)) {
    const id = Number(text)
    if (id < names.length) return { ok: true, classId: id, how: `class id ${id}` }
    return { ok: false, error: `class id ${id} is out of range; must be in [0, ${names.length - 1}]` }
  }
  const key = normalizeName(text)
  const exact = names.findIndex((n) => normalizeName(n) === key)
  if (exact >= 0 && key !== '') return { ok: true, classId: exact, how: 'exact name' }

  const terms = promptTerms(text)
  const parts = nameParts(names)
  const found = parts.filter((p) => terms.has(p.key) || terms.has(singular(p.key)))
  if (found.length > 0) {
    // A name inside a longer match is part of it ("shirt" in "tshirt"), not a second class.
    const best = found.filter((p) => !found.some((q) => q.key !== p.key && q.key.includes(p.key)))
    const ids = [...new Set(best.map((p) => p.classId))]
    if (ids.length === 1) return { ok: true, classId: ids[0], how: `the word "${best[0].label}"` }
    return {
      ok: false,
      error: `"${text}" names several classes (${ids.map((i) => names[i]).join(', ')}); name one of them`,
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
    return {
      ok: true,
      classId: near.classId,
      how: `"${near.term}" read as "${near.label}" (${near.d} edit${near.d > 1 ? 's' : ''})`,
    }
  const suggest = nearestNames(text, names)
  const hint = suggest.length > 0 ? ` Did you mean ${suggest.map((n) => `"${n}"`).join(' or ')}?` : ''
  return { ok: false, error: `unknown class "${text.slice(0, 80)}".${hint} Classes: ${names.join(', ')}` }
}
