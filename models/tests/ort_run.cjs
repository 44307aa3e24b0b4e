// Runs one ONNX graph with onnxruntime-node for the Python parity tests.
// usage: node ort_run.cjs request.json
// request: { model, outDir, feeds: { name: { dtype: "float32" | "int64", dims: [...], file } } }
// Each output is written as raw little-endian data to outDir/<name>.bin; stdout gets
// { name: { dtype, dims, file } }.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-node');

async function main() {
  const req = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const session = await ort.InferenceSession.create(req.model, { executionProviders: ['cpu'] });
  const feeds = {};
  for (const [name, f] of Object.entries(req.feeds)) {
    const buf = fs.readFileSync(f.file);
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const data = f.dtype === 'int64' ? new BigInt64Array(ab) : new Float32Array(ab);
    feeds[name] = new ort.Tensor(f.dtype, data, f.dims);
  }
  const results = await session.run(feeds);
  const out = {};
  for (const [name, t] of Object.entries(results)) {
    const file = path.join(req.outDir, `${name}.bin`);
    const d = t.data;
    fs.writeFileSync(file, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    out[name] = { dtype: t.type, dims: t.dims, file };
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(1);
});
