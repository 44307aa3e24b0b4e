"""Runs the studio's own inference code from Python, for the parity checks and the exporter's tests.

Debian ships no Python onnxruntime; the checks call the project's Node install instead, through
ort_node.ts beside this file, which drives the code the studio ships (the host's `openModel` runner,
the engine's `generate`, the inference host process), so PyTorch is compared with exactly what users
run. Arrays travel as raw little-endian files.
"""
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ort_node.ts')
_DTYPES = {'float32': '<f4', 'int64': '<i8', 'float64': '<f8', 'int32': '<i4'}


class OrtUnavailable(RuntimeError):
    pass


def node_available():
    return (shutil.which('node') is not None
            and os.path.isdir(os.path.join(ROOT, 'node_modules', 'onnxruntime-node'))
            and os.path.isdir(os.path.join(ROOT, 'node_modules', 'tsx')))


def _write_feeds(tmp, feeds):
    spec = {}
    for name, arr in feeds.items():
        arr = np.ascontiguousarray(arr)
        dtype = 'int64' if arr.dtype.kind in 'iu' else 'float32'
        arr = arr.astype(_DTYPES[dtype])
        f = os.path.join(tmp, f'in_{name}.bin')
        arr.tofile(f)
        spec[name] = {'dtype': dtype, 'dims': list(arr.shape), 'file': f}
    return spec


def _call(request, feeds=None):
    """Runs one driver command; returns its outputs, name -> numpy array."""
    if not node_available():
        raise OrtUnavailable('node and node_modules (onnxruntime-node, tsx) are needed: run `npm ci` first')
    with tempfile.TemporaryDirectory() as tmp:
        req = dict(request, outDir=tmp)
        if feeds is not None:
            req['feeds'] = _write_feeds(tmp, feeds)
        with open(os.path.join(tmp, 'req.json'), 'w') as f:
            json.dump(req, f)
        p = subprocess.run(['node', '--import', 'tsx', DRIVER, os.path.join(tmp, 'req.json')],
                           capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            raise RuntimeError(f'{request["cmd"]} failed in the studio code:\n{p.stderr}')
        spec = json.loads(p.stdout)
        return {name: np.fromfile(s['file'], dtype=_DTYPES[s['dtype']]).reshape(s['dims'])
                for name, s in spec.items()}


def run(model_path, feeds):
    """One ONNX graph (not a model folder) through the host's Graph. feeds: name -> numpy array."""
    return _call({'cmd': 'graph', 'model': os.path.abspath(model_path)}, feeds)


def var_step(model_dir, feeds):
    """One var_step of a model folder through the studio's runner (`openModel(...).runner.varStep`)."""
    return _call({'cmd': 'var_step', 'dir': os.path.abspath(model_dir)}, feeds)


def teacher_forced(model_dir, labels, ids):
    """The engine's loop with forced ids: labels [B], ids per scale [B, l]. Returns logits_<si>
    [2B, l, V], f_hat_<si>, next_tok_<si> and image."""
    return _call({'cmd': 'teacher_forced', 'dir': os.path.abspath(model_dir),
                  'labels': [int(x) for x in labels],
                  'ids': [np.asarray(i).reshape(-1).tolist() for i in ids]})


def free_running(model_dir, labels, seeds, sampling, draws, host=True):
    """The engine's baseline loop from the seeds: tokens_<si> [B, l] and image, the same through the
    inference host process (host_tokens_<si>, host_image), and the first `draws` uniform doubles of
    each seed's stream (draws [B, n]), the ones the loop consumed."""
    return _call({'cmd': 'free_running', 'dir': os.path.abspath(model_dir),
                  'labels': [int(x) for x in labels], 'seeds': [int(s) for s in seeds],
                  'sampling': sampling, 'draws': int(draws), 'host': bool(host)})
