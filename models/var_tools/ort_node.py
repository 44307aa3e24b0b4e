"""Runs an ONNX graph through onnxruntime-node (the runtime the studio uses) from Python.

Debian ships no Python onnxruntime; the parity tests and fixtures call the project's own Node
install instead, so they check exactly the runtime that users run.
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
RUNNER = os.path.join(ROOT, 'models', 'tests', 'ort_run.cjs')


class OrtUnavailable(RuntimeError):
    pass


def node_available():
    return shutil.which('node') is not None and os.path.isdir(os.path.join(ROOT, 'node_modules', 'onnxruntime-node'))


def run(model_path, feeds):
    """feeds: name -> numpy array (float32 or int64). Returns name -> numpy array."""
    if not node_available():
        raise OrtUnavailable('node and node_modules/onnxruntime-node are needed: run `npm ci` first')
    with tempfile.TemporaryDirectory() as tmp:
        req = {'model': os.path.abspath(model_path), 'outDir': tmp, 'feeds': {}}
        for name, arr in feeds.items():
            arr = np.ascontiguousarray(arr)
            dtype = 'int64' if arr.dtype.kind in 'iu' else 'float32'
            arr = arr.astype('<i8' if dtype == 'int64' else '<f4')
            f = os.path.join(tmp, f'in_{name}.bin')
            arr.tofile(f)
            req['feeds'][name] = {'dtype': dtype, 'dims': list(arr.shape), 'file': f}
        with open(os.path.join(tmp, 'req.json'), 'w') as f:
            json.dump(req, f)
        p = subprocess.run(['node', RUNNER, os.path.join(tmp, 'req.json')], capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            raise RuntimeError(f'onnxruntime-node failed on {model_path}:\n{p.stderr}')
        spec = json.loads(p.stdout)
        out = {}
        for name, s in spec.items():
            dt = {'float32': '<f4', 'int64': '<i8'}[s['dtype']]
            out[name] = np.fromfile(s['file'], dtype=dt).reshape(s['dims'])
        return out
