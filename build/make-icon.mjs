// Draws build/icon.png (512x512), the source electron-builder converts to every platform's icon
// format. Run `node build/make-icon.mjs` after changing the drawing; the PNG is committed so that
// packaging needs no extra step. The picture: three token grids of growing resolution (2x2, 4x4,
// 8x8) stacked like the scales of next-scale prediction.
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'

const SIZE = 512
const out = fileURLToPath(new URL('./icon.png', import.meta.url))

/** Deterministic colours so re-running the script reproduces the same icon. */
function shade(i, j, n, hue) {
  const light = 45 + 30 * (((i * 7 + j * 13 + n) % 5) / 4)
  return `hsl(${hue}, 70%, ${light}%)`
}

function grid(x, y, side, n, hue) {
  const cell = side / n
  const rects = []
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      rects.push(
        `<rect x="${x + j * cell + 2}" y="${y + i * cell + 2}" width="${cell - 4}" height="${cell - 4}" rx="${Math.min(8, cell / 6)}" fill="${shade(i, j, n, hue)}"/>`,
      )
    }
  }
  return `<g><rect x="${x}" y="${y}" width="${side}" height="${side}" rx="10" fill="#1e1b4b"/>${rects.join('')}<rect x="${x}" y="${y}" width="${side}" height="${side}" rx="10" fill="none" stroke="#f8fafc" stroke-width="6"/></g>`
}

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${SIZE}" height="${SIZE}" viewBox="0 0 ${SIZE} ${SIZE}">
  <rect width="${SIZE}" height="${SIZE}" rx="96" fill="#1e1b4b"/>
  ${grid(56, 56, 200, 2, 265)}
  ${grid(136, 136, 200, 4, 200)}
  ${grid(216, 216, 240, 8, 160)}
</svg>`

await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toFile(out)
console.log(`wrote ${out}`)
