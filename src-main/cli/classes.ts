/** Class references as people type them: an id, or a name (any case and punctuation) with suggestions. */
import { InvalidRequestError } from '../../src-shared/errors'

/** Edit distance (insertions, deletions, substitutions). */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}

/** "T-shirt/top" and "tshirt top" compare equal. */
export const normalizeName = (s: string): string => s.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '')

/**
 * The class list an "unknown class" message ends with: every name for a small model, the first 20 and
 * a count for a large one (ImageNet's 1000 names would bury the message).
 */
export function classListText(names: readonly string[], withIds: boolean): string {
  const label = (n: string, i: number): string => (withIds ? `${i} ${n}` : n)
  if (names.length <= 40) return `Classes: ${names.map(label).join(', ')}`
  const head = names.slice(0, 20).map(label).join(', ')
  return `Classes (${names.length}): ${head}, ... and ${names.length - 20} more (class_names in the model's manifest.json)`
}

/** Up to `max` class names nearest to `ref`, closest first, within a distance that still looks like a typo. */
export function nearestNames(ref: string, names: readonly string[], max = 3): string[] {
  const key = normalizeName(ref)
  const limit = Math.max(2, Math.ceil(key.length / 3))
  return names
    .map((name, i) => {
      const n = normalizeName(name)
      const prefix = key.length >= 3 && n.startsWith(key) ? 0 : Infinity
      return { name, i, d: Math.min(prefix, levenshtein(key, n)) }
    })
    .filter((x) => x.d <= limit)
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .slice(0, max)
    .map((x) => x.name)
}

/** Resolves one class reference to its id; throws InvalidRequestError with suggestions. */
export function resolveClass(ref: string | number, names: readonly string[], field = 'class'): number {
  const text = String(ref).trim()
  if (/^\d+$/.test(text)) {
    const id = Number(text)
    if (id < names.length) return id
    throw new InvalidRequestError(
      field,
      `${field}: class id ${id} is out of range; must be in [0, ${names.length - 1}]`,
    )
  }
  const key = normalizeName(text)
  const hit = names.findIndex((n) => normalizeName(n) === key)
  if (hit >= 0 && key !== '') return hit
  const near = nearestNames(text, names)
  const hint = near.length > 0 ? ` Did you mean ${near.map((n) => `"${n}"`).join(' or ')}?` : ''
  throw new InvalidRequestError(
    field,
    `${field}: unknown class "${text}".${hint} ${classListText(names, true)}`,
  )
}
