"""Exporter to a `var-onnx/1` model folder.

    # the embedded model, from our training run
    /usr/bin/python3 -m var_tools.export trained --run runs/fashion --classifier runs/classifier/classifier.pt \
        --out fashion-mnist-var
    # official checkpoints (ImageNet class names and the checkpoints' sha256 go into the manifest)
    /usr/bin/python3 -m var_tools.export official --vae vae_ch160v4096z32.pth --var var_d16.pth --out var-d16
    # the same with weights stored as float16 (half the disk size; compute stays float32)
    /usr/bin/python3 -m var_tools.export official --vae vae_ch160v4096z32.pth --var var_d30.pth --out var-d30 \
        --weights fp16

The folder is written next to its destination and renamed into place, so a failed export leaves
nothing half-written. An existing folder that holds a different model is never overwritten unless
--force is given; re-exporting the identical model is a no-op.

A graph whose weights pass --external-data-threshold bytes (default just under 2 GiB, the protobuf
limit) keeps them in one side file `<graph>.onnx.data` next to the graph; the manifest lists it under
the graph's `external_data` and in `files` with its sha256, so the model registry verifies it too.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .var_model import VAR, VarStep, official_var_config
from .vqvae import VQVAE, official_vae_config, resample_matrices

FORMAT = 'var-onnx/1'
OPSET = 17
# protobuf refuses to serialise a message of 2 GiB or more; the margin leaves room for the graph itself
EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 27
# tensors below this stay inline even in external-data mode: shapes and scalars are not worth a seek
EXTERNAL_MIN_BYTES = 1024
# offsets in the data file are page aligned so that a runtime may memory-map each tensor
EXTERNAL_ALIGN = 4096
# float16 holds magnitudes up to 65504; a weight beyond that (or not finite) stays float32
FP16_MAX = 65504.0
WEIGHT_DTYPES = {'fp32': 'float32', 'float32': 'float32', 'fp16': 'float16', 'float16': 'float16', 'int8': 'int8'}
# what --weights offers (the exporter's and verify_official's)
WEIGHT_CHOICES = ('fp32', 'fp16', 'int8')
# --weights int8 quantizes the weight of every MatMul whose weight has at least this many entries
# (the transformer's linear layers; small and 1-row products stay float32)
INT8_MIN_ELEMENTS = 1 << 12
# a line of the ImageNet devkit's LOC_synset_mapping.txt: `n01440764 tench, Tinca tinca`
SYNSET_LINE = re.compile(r'^n\d{8}\s+(.+)$')


class ExportError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------------- graphs
class VqStep(nn.Module):
    """f_hat_out = f_hat + phi(up . h . up^T); next_tok = flatten(down . f_hat_out . down^T)."""

    def __init__(self, vae: VQVAE):
        super().__init__()
        convs = vae.quantize.quant_resi.qresi_ls
        self.register_buffer('w', torch.stack([c.weight.detach() for c in convs]))  # K, C, C, 3, 3
        self.register_buffer('b', torch.stack([c.bias.detach() for c in convs]))  # K, C
        self.r = float(vae.quantize.quant_resi_ratio)

    def forward(self, f_hat, h_tok, up, phi_sel, down):
        B, l, C = h_tok.shape
        pn = up.shape[1]
        h = h_tok.transpose(1, 2).reshape(B, C, pn, pn)
        h = torch.matmul(torch.matmul(up, h), up.t())
        K = self.w.shape[0]
        w = (phi_sel.view(K, 1, 1, 1, 1) * self.w).sum(0)
        b = (phi_sel.view(K, 1) * self.b).sum(0)
        h = h * (1.0 - self.r) + F.conv2d(h, w, b, padding=1) * self.r
        f_out = f_hat + h
        nxt = torch.matmul(torch.matmul(down, f_out), down.t())
        return f_out, nxt.flatten(2).transpose(1, 2)


class VaeDecode(nn.Module):
    def __init__(self, vae: VQVAE):
        super().__init__()
        self.vae = vae

    def forward(self, f_hat):
        return (self.vae.fhat_to_img(f_hat) + 1.0) * 0.5


_DTYPES = {1: 'float32', 7: 'int64', 10: 'float16'}


def _io_spec(values):
    out = []
    for v in values:
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else int(d.dim_value) for d in t.shape.dim]
        out.append({'name': v.name, 'dtype': _DTYPES.get(t.elem_type, str(t.elem_type)), 'shape': dims})
    return out


def _external_files(model):
    import onnx
    files = []
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            loc = {e.key: e.value for e in t.external_data}['location']
            if loc not in files:
                files.append(loc)
    return files


def _graph_spec(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    spec = {'file': os.path.basename(path), 'inputs': _io_spec(m.graph.input), 'outputs': _io_spec(m.graph.output)}
    external = _external_files(m)
    if external:
        spec['external_data'] = external
    return spec


class GraphOptions:
    """How the exported graphs store their weights (see the module docstring)."""

    def __init__(self, weights='float32', external_data_threshold=EXTERNAL_DATA_THRESHOLD):
        if weights not in WEIGHT_DTYPES:
            raise ExportError(f'--weights {weights!r}: choose {", ".join(WEIGHT_CHOICES[:-1])} or {WEIGHT_CHOICES[-1]}')
        if external_data_threshold < 0:
            raise ExportError('the external-data threshold cannot be negative')
        self.weights = WEIGHT_DTYPES[weights]
        self.external_data_threshold = int(external_data_threshold)


def _tensor_bytes(t, folder):
    """The raw little-endian bytes of an initializer, wherever torch put them."""
    import onnx
    from onnx import numpy_helper
    if t.data_location == onnx.TensorProto.EXTERNAL:
        info = {e.key: e.value for e in t.external_data}
        with open(os.path.join(folder, info['location']), 'rb') as f:
            f.seek(int(info.get('offset', 0)))
            return f.read(int(info['length'])) if 'length' in info else f.read()
    if t.HasField('raw_data'):
        return t.raw_data
    return numpy_helper.to_array(t).tobytes()


def _attribute_tensors(graph):
    """Tensors held in node attributes (a Constant's value), subgraphs included."""
    import onnx
    found = []
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                found.append(a.t)
            elif a.type == onnx.AttributeProto.TENSORS:
                found.extend(a.tensors)
            elif a.type == onnx.AttributeProto.GRAPH:
                found.extend(_attribute_tensors(a.g))
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    found.extend(_attribute_tensors(g))
    return found


def _to_fp16(t, data):
    """float16 bytes for a float32 weight, or None when float16 cannot hold it."""
    import onnx
    if t.data_type != onnx.TensorProto.FLOAT or len(data) < EXTERNAL_MIN_BYTES:
        return None  # scalars and small vectors: nothing to save, and they are often epsilons or scales
    a = np.frombuffer(data, dtype='<f4')
    if not np.isfinite(a).all() or np.abs(a).max() > FP16_MAX:
        return None
    return a.astype('<f2').tobytes()


def _int8_targets(graph, inits):
    """Linear layers to run in int8: name of a large 2-D float32 weight used by nothing else -> its
    MatMul. (torch exports the transformer's linear layers on 3-D activations as MatMul + Add; AdaLN's,
    the only ones on 2-D rows, are lookup tables in the exported graph.)"""
    import onnx
    uses = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    by_name = {t.name: t for t in inits}
    targets = {}
    for node in graph.node:
        if node.domain not in ('', 'ai.onnx') or node.op_type != 'MatMul' or len(node.input) != 2:
            continue
        t = by_name.get(node.input[1])
        if (t is not None and t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2
                and t.dims[0] * t.dims[1] >= INT8_MIN_ELEMENTS and uses[t.name] == 1):
            targets[t.name] = node
    return targets


def _to_int8(data, dims):
    """Symmetric per-output-column int8 of a [K, N] weight: (int8 bytes, float32 scales [N]), or None
    when the weight is not finite."""
    w = np.frombuffer(data, dtype='<f4').reshape(dims)
    if not np.isfinite(w).all():
        return None
    scale = np.abs(w).max(axis=0) / 127
    scale[scale == 0] = 1
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return np.ascontiguousarray(q).tobytes(), scale.astype('<f4')


def _finish_graph(raw_path, path, options: GraphOptions):
    """Rewrites torch's output into the folder layout: optional float16 or int8 weights, optional one
    data file.

    torch 1.13 itself switches to external data only past 2 GB and then writes one file per tensor;
    every such tensor is read back here one at a time, so memory stays at about one tensor.
    """
    import onnx
    from onnx import numpy_helper
    raw_dir = os.path.dirname(raw_path)
    m = onnx.load(raw_path, load_external_data=False)
    inits = list(m.graph.initializer)
    # torch also moves large Constant node values out (LayerNorm's explicit ones, d20 and up)
    consts = _attribute_tensors(m.graph)
    total = 0
    for t in inits + consts:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            n = int(info['length']) if 'length' in info else os.path.getsize(os.path.join(raw_dir, info['location']))
        else:
            n = len(t.raw_data) if t.HasField('raw_data') else numpy_helper.to_array(t).nbytes
        total += n // 2 if options.weights == 'float16' and t.data_type == onnx.TensorProto.FLOAT else n
    int8 = _int8_targets(m.graph, inits) if options.weights == 'int8' else {}
    if int8:
        total -= sum(3 * t.dims[0] * t.dims[1] for t in inits if t.name in int8)  # 1 byte instead of 4
    # a larger threshold cannot keep a 2 GB graph in one file: protobuf would refuse to write it
    external = total > min(options.external_data_threshold, EXTERNAL_DATA_THRESHOLD)
    touched = external or options.weights == 'float16' or bool(int8) or any(
        t.data_location == onnx.TensorProto.EXTERNAL for t in inits + consts)
    if not touched:
        os.replace(raw_path, path)  # torch's own bytes: re-exports stay byte-identical
        return
    data_name = os.path.basename(path) + '.data'
    data_file = open(os.path.join(os.path.dirname(path), data_name), 'wb') if external else None
    casts = []
    added = []  # the scales and zero points of int8 weights
    try:
        for t, is_const in [(t, False) for t in inits] + [(t, True) for t in consts]:
            data = _tensor_bytes(t, raw_dir)
            node = int8.get(t.name)
            quantized = _to_int8(data, tuple(t.dims)) if node is not None else None
            if quantized is not None:
                # MatMul(x, W) becomes DynamicQuantizeMatMul(x, W_int8, scale, zero): x is quantized to
                # uint8 per run, the product accumulates in int32, the result is float32
                data, scale = quantized
                name, n_out = t.name, len(scale)
                t.name, t.data_type = name + '__int8', onnx.TensorProto.INT8
                added.append(numpy_helper.from_array(scale, name + '__scale'))
                added.append(numpy_helper.from_array(np.zeros(n_out, np.int8), name + '__zero'))
                node.op_type, node.domain = 'DynamicQuantizeMatMul', 'com.microsoft'
                node.input[:] = [node.input[0], t.name, name + '__scale', name + '__zero']
                del node.attribute[:]
            elif options.weights == 'float16' and not is_const:  # a Constant keeps its own type
                half = _to_fp16(t, data)
                if half is not None:
                    data = half
                    # the graph keeps consuming the float32 name; a Cast at the top produces it
                    casts.append(onnx.helper.make_node('Cast', [t.name + '__fp16'], [t.name],
                                                       name=t.name + '__to_fp32', to=onnx.TensorProto.FLOAT))
                    t.name = t.name + '__fp16'
                    t.data_type = onnx.TensorProto.FLOAT16
            t.ClearField('float_data')
            t.ClearField('int64_data')
            t.ClearField('int32_data')
            t.ClearField('double_data')
            del t.external_data[:]
            if data_file is not None and len(data) >= EXTERNAL_MIN_BYTES:
                pad = -data_file.tell() % EXTERNAL_ALIGN
                data_file.write(b'\0' * pad)
                offset = data_file.tell()
                data_file.write(data)
                t.ClearField('raw_data')
                t.data_location = onnx.TensorProto.EXTERNAL
                for k, v in (('location', data_name), ('offset', str(offset)), ('length', str(len(data)))):
                    e = t.external_data.add()
                    e.key, e.value = k, v
            else:
                t.data_location = onnx.TensorProto.DEFAULT
                t.raw_data = data
    finally:
        if data_file is not None:
            data_file.close()
    if casts:
        nodes = casts + list(m.graph.node)
        del m.graph.node[:]
        m.graph.node.extend(nodes)
    if added:
        m.graph.initializer.extend(added)
        if not any(o.domain == 'com.microsoft' for o in m.opset_import):
            m.opset_import.append(onnx.helper.make_opsetid('com.microsoft', 1))
    with open(path, 'wb') as f:
        f.write(m.SerializeToString())


def _export(module, args, path, input_names, output_names, dynamic_axes, options: Optional[GraphOptions] = None):
    """torch.onnx.export into a private folder (torch may scatter per-tensor files there), then lay out."""
    options = options or GraphOptions()
    module.eval()
    raw_dir = tempfile.mkdtemp(prefix='.raw-', dir=os.path.dirname(os.path.abspath(path)))
    try:
        raw_path = os.path.join(raw_dir, os.path.basename(path))
        with torch.no_grad():
            torch.onnx.export(module, args, raw_path, opset_version=OPSET, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
        _finish_graph(raw_path, path, options)
    finally:
        shutil.rmtree(raw_dir, ignore_errors=True)


def ada_tables_for(var: VAR, weights: str):
    """AdaLN's modulation per label (`VAR.ada_tables`), stored float32 with float32 weights and
    float16 with float16 or int8 weights (then the modulation is rounded to 11 significant bits instead
    of going through int8 products); a table float16 cannot hold stays float32."""
    tables = var.ada_tables()
    if weights == 'float32':
        return tables
    return [t.half() if bool(torch.isfinite(t).all()) and float(t.abs().max()) <= FP16_MAX else t
            for t in tables]


def export_var_step(var: VAR, path, options: Optional[GraphOptions] = None):
    options = options or GraphOptions()
    N, si = 2, 1
    l, P = var.patch_nums[si] ** 2, var.begin[si]
    args = (torch.zeros(N, dtype=torch.long), torch.randn(N, l, var.Cvae), torch.arange(P, P + l),
            torch.zeros(l, P + l), torch.randn(var.depth, N, var.num_heads, P, var.head_dim),
            torch.randn(var.depth, N, var.num_heads, P, var.head_dim))
    _export(VarStep(var, ada_tables_for(var, options.weights)), args, path,
            ['cond_label', 'x_cvae', 'pos', 'attn_bias', 'past_k', 'past_v'], ['logits', 'present_k', 'present_v'],
            {'cond_label': {0: 'N'}, 'x_cvae': {0: 'N', 1: 'l'}, 'pos': {0: 'l'}, 'attn_bias': {0: 'l', 1: 'T'},
             'past_k': {1: 'N', 3: 'P'}, 'past_v': {1: 'N', 3: 'P'}, 'logits': {0: 'N', 1: 'l'},
             'present_k': {1: 'N', 3: 'T'}, 'present_v': {1: 'N', 3: 'T'}}, options)


def export_vq_step(vae: VQVAE, path, options: Optional[GraphOptions] = None):
    ups, downs = resample_matrices(vae.patch_nums)
    hw, C, K = vae.patch_nums[-1], vae.Cvae, len(vae.quantize.quant_resi.qresi_ls)
    pn, pn_next = vae.patch_nums[1], vae.patch_nums[2]
    args = (torch.randn(2, C, hw, hw), torch.randn(2, pn * pn, C), ups[1], torch.eye(K)[0], downs[1])
    assert downs[1].shape == (pn_next, hw)
    _export(VqStep(vae), args, path, ['f_hat', 'h_tok', 'up', 'phi_sel', 'down'], ['f_hat_out', 'next_tok'],
            {'f_hat': {0: 'B'}, 'h_tok': {0: 'B', 1: 'l'}, 'up': {1: 'pn'}, 'down': {0: 'pn_next'},
             'f_hat_out': {0: 'B'}, 'next_tok': {0: 'B', 1: 'l_next'}}, options)


def export_vae_decode(vae: VQVAE, path, options: Optional[GraphOptions] = None):
    hw = vae.patch_nums[-1]
    _export(VaeDecode(vae), (torch.randn(2, vae.Cvae, hw, hw),), path, ['f_hat'], ['image'],
            {'f_hat': {0: 'B'}, 'image': {0: 'B'}}, options)


# ------------------------------------------------------------------------------------------- folder
def sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def build_manifest(vae: VQVAE, var: VAR, model_id, display_name, class_names, sampling_defaults, source):
    ups, downs = resample_matrices(vae.patch_nums)
    pn = list(vae.patch_nums)
    return {
        'format': FORMAT, 'id': model_id, 'display_name': display_name,
        'depth': var.depth, 'embed_dim': var.C, 'num_heads': var.num_heads, 'head_dim': var.head_dim,
        'num_classes': var.num_classes, 'null_class': var.num_classes, 'class_names': list(class_names),
        'vocab_size': vae.V, 'Cvae': vae.Cvae, 'patch_nums': pn, 'begin': list(var.begin), 'L': var.L,
        'first_l': var.first_l, 'latent_hw': pn[-1], 'image_size': pn[-1] * vae.downsample,
        'image_channels': vae.in_channels, 'phi_count': len(vae.quantize.quant_resi.qresi_ls),
        'phi_index': list(vae.quantize.phi_index), 'quant_resi': vae.quantize.quant_resi_ratio,
        'up': [u.flatten().tolist() for u in ups], 'down': [d.flatten().tolist() for d in downs],
        'sampling_defaults': sampling_defaults, 'source': source,
    }


def check_destination(out, force):
    """Refuses a destination that holds something else; returns True when it may be (re)written."""
    if not os.path.exists(out):
        return True
    if not os.path.isdir(out):
        raise ExportError(f'{out} exists and is not a folder')
    if not os.listdir(out):
        return True
    if force:
        return True
    man = os.path.join(out, 'manifest.json')
    if not os.path.exists(man):
        raise ExportError(f'{out} is not empty and holds no model manifest; choose another --out or pass --force')
    return False


def write_model_folder(vae: VQVAE, var: VAR, out, *, model_id, display_name, class_names, sampling_defaults,
                       source, classifier=None, force=False, weights='float32',
                       external_data_threshold=EXTERNAL_DATA_THRESHOLD):
    if len(class_names) != var.num_classes:
        raise ExportError(f'{len(class_names)} class names for a model with {var.num_classes} classes')
    if tuple(vae.patch_nums) != tuple(var.patch_nums):
        raise ExportError(f'patch schedule mismatch: VQ-VAE {list(vae.patch_nums)} vs VAR {list(var.patch_nums)}')
    if vae.Cvae != var.Cvae or vae.V != var.V:
        raise ExportError(f'VQ-VAE (V={vae.V}, Cvae={vae.Cvae}) does not match VAR (V={var.V}, Cvae={var.Cvae})')
    options = GraphOptions(weights, external_data_threshold)
    fresh = check_destination(out, force)
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.export-', dir=parent)
    try:
        vae.eval()
        var.eval()
        export_var_step(var, os.path.join(tmp, 'var_step.onnx'), options)
        export_vq_step(vae, os.path.join(tmp, 'vq_step.onnx'), options)
        export_vae_decode(vae, os.path.join(tmp, 'vae_decode.onnx'), options)
        vae.quantize.embedding.weight.detach().float().numpy().astype('<f4').tofile(os.path.join(tmp, 'codebook.f32'))
        graphs = {'var_step': _graph_spec(os.path.join(tmp, 'var_step.onnx')),
                  'vq_step': _graph_spec(os.path.join(tmp, 'vq_step.onnx')),
                  'vae_decode': _graph_spec(os.path.join(tmp, 'vae_decode.onnx'))}
        if classifier is not None:
            from .classifier import export_classifier
            export_classifier(classifier, os.path.join(tmp, 'classifier.onnx'))
            graphs['classifier'] = _graph_spec(os.path.join(tmp, 'classifier.onnx'))
        manifest = build_manifest(vae, var, model_id, display_name, class_names, sampling_defaults, source)
        manifest['graphs'] = graphs
        manifest['weight_dtype'] = options.weights
        manifest['codebook'] = {'file': 'codebook.f32', 'dtype': 'float32', 'shape': [vae.V, vae.Cvae]}
        manifest['files'] = {name: {'sha256': sha256_file(os.path.join(tmp, name)),
                                    'bytes': os.path.getsize(os.path.join(tmp, name))}
                             for name in sorted(os.listdir(tmp))}
        with open(os.path.join(tmp, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=1)
            f.write('\n')
        if not fresh:
            with open(os.path.join(out, 'manifest.json')) as f:
                old = json.load(f)
            if old.get('files') == manifest['files'] and old.get('id') == manifest['id']:
                shutil.rmtree(tmp)
                return manifest
            raise ExportError(f'{out} already holds a different model (id {old.get("id")!r}); '
                              f'choose another --out or pass --force to replace it')
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------------------------------- loading
def _describe_keys(keys: List[str], limit=12):
    keys = sorted(keys)
    more = f' ... and {len(keys) - limit} more' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def check_state_dict(module: nn.Module, sd: Dict[str, torch.Tensor], what: str):
    ours = module.state_dict()
    missing = [k for k in ours if k not in sd]
    unexpected = [k for k in sd if k not in ours]
    problems = []
    if missing:
        problems.append(f'missing keys ({len(missing)}): {_describe_keys(missing)}')
    if unexpected:
        problems.append(f'unexpected keys ({len(unexpected)}): {_describe_keys(unexpected)}')
    wrong = [f'{k} {list(sd[k].shape)} (expected {list(v.shape)})' for k, v in ours.items()
             if k in sd and tuple(sd[k].shape) != tuple(v.shape) and k != 'quantize.ema_vocab_hit_SV']
    if wrong:
        problems.append(f'shape mismatches ({len(wrong)}): {_describe_keys(wrong)}')
    if problems:
        raise ExportError(f'{what} does not match the expected architecture: ' + '; '.join(problems))


def torch_load(path, what):
    if not os.path.exists(path):
        raise ExportError(f'{what} {path} does not exist')
    try:
        obj = torch.load(path, map_location='cpu')
    except Exception as e:  # truncated or not a torch file
        raise ExportError(f'{what} {path} could not be read ({type(e).__name__}: {e}); '
                          f'the file may be truncated or not a PyTorch checkpoint') from None
    if isinstance(obj, dict) and 'model' in obj and isinstance(obj['model'], dict):
        return obj
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ExportError(f'{what} {path} is not a state dict')
    return obj


def official_depth(sd):
    blocks = {int(k.split('.')[1]) for k in sd if k.startswith('blocks.') and k.split('.')[1].isdigit()}
    if not blocks:
        raise ExportError('the VAR checkpoint has no blocks.N.* keys: not a VAR transformer checkpoint')
    return max(blocks) + 1


def _looks_like_var(sd):
    return any(k.startswith('blocks.') for k in sd) and 'head.weight' in sd


def _looks_like_vae(sd):
    return any(k.startswith('encoder.') for k in sd) and any(k.startswith('decoder.') for k in sd)


def load_official(vae_path, var_path):
    vae_sd = torch_load(vae_path, 'VQ-VAE checkpoint')
    var_sd = torch_load(var_path, 'VAR checkpoint')
    # a swapped pair is the likeliest mix-up with two .pth files; say so instead of listing 300 keys
    if _looks_like_var(vae_sd) or _looks_like_vae(var_sd):
        raise ExportError(f'{os.path.basename(vae_path)} (given as --vae) and {os.path.basename(var_path)} '
                          f'(given as --var) look swapped: --vae takes vae_ch160v4096z32.pth, '
                          f'--var takes var_dNN.pth')
    vae = VQVAE(**official_vae_config())
    check_state_dict(vae, vae_sd, f'VQ-VAE checkpoint {os.path.basename(vae_path)}')
    vae.load_state_dict(vae_sd, strict=True)
    depth = official_depth(var_sd)
    named = re.fullmatch(r'var_d(\d+)\.pth', os.path.basename(var_path))
    if named and int(named.group(1)) != depth:
        raise ExportError(f'{os.path.basename(var_path)} holds a depth-{depth} transformer ({depth} blocks), '
                          f'but its name says depth {named.group(1)}: the file was renamed or is incomplete')
    var = VAR(**official_var_config(depth))
    check_state_dict(var, var_sd, f'VAR checkpoint {os.path.basename(var_path)} (read as depth {depth})')
    var.load_state_dict(var_sd, strict=True)
    return vae.eval(), var.eval(), depth


def load_trained(run, checkpoint='var.pt'):
    from .train import load_vqvae
    vae = load_vqvae(os.path.join(run, 'vqvae', 'vqvae.pt'))
    if os.path.basename(checkpoint) != checkpoint:
        raise ExportError(f'--checkpoint {checkpoint}: give a file name inside {os.path.join(run, "var")}')
    path = os.path.join(run, 'var', checkpoint)
    ck = torch_load(path, 'VAR checkpoint')
    cfg = ck['config']
    if tuple(cfg['patch_nums']) != tuple(vae.patch_nums):
        raise ExportError(f'patch schedule of {path} {cfg["patch_nums"]} differs from the VQ-VAE\'s '
                          f'{list(vae.patch_nums)}')
    var = VAR(**cfg)
    check_state_dict(var, ck['model'], f'VAR checkpoint {path}')
    var.load_state_dict(ck['model'])
    return vae, var.eval(), ck


def read_class_names(path, num_classes):
    """One name per line in class-index order, or the ImageNet devkit's `LOC_synset_mapping.txt`
    (`n01440764 tench, Tinca tinca`: the first synonym after the WordNet id becomes the name)."""
    try:
        with open(path, encoding='utf-8') as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise ExportError(f'class names file {path} could not be read: {e.strerror}') from None
    except UnicodeDecodeError:
        raise ExportError(f'class names file {path} is not UTF-8 text') from None
    synsets = [SYNSET_LINE.match(line) for line in lines]
    if lines and all(synsets):
        names = [m.group(1).split(',')[0].strip() for m in synsets]
    else:
        names = lines
    if len(names) != num_classes:
        raise ExportError(f'{path} has {len(names)} class names; the checkpoint has {num_classes} classes '
                          f'(one non-empty line per class, in class-index order)')
    return names


NO_TORCHVISION = 'torchvision is not installed'


def imagenet_class_names():
    """ImageNet's 1000 category names in class-index order (the order VAR was trained with), as
    torchvision carries them for its pretrained classifiers, and where they came from; or None and
    why there are none. The project ships no list of its own."""
    try:
        import torchvision
    except ImportError:
        return None, NO_TORCHVISION
    version = torchvision.__version__.split('+')[0]
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES
    except ImportError:
        return None, f'torchvision {version} carries no ImageNet category list'
    return list(_IMAGENET_CATEGORIES), f'torchvision {version}'


def choose_class_names(choice, num_classes):
    """The class names for an official checkpoint and where they came from (kept in the manifest's
    `source.class_names`): a file, torchvision's ImageNet list, or numbers."""
    numbered = [f'class {i}' for i in range(num_classes)]
    if choice not in ('auto', 'imagenet', 'numbered'):
        return read_class_names(choice, num_classes), f'file {os.path.basename(choice)}'
    if choice == 'numbered':
        return numbered, 'numbered'
    names, origin = imagenet_class_names()
    if names is not None and len(names) != num_classes:
        names, origin = None, f'{origin} names {len(names)} classes, the checkpoint has {num_classes}'
    if names is not None:
        print(f'class names: ImageNet categories from {origin}', file=sys.stderr)
        return names, f'ImageNet categories, {origin}'
    remedy = ('install torchvision (Debian: apt install python3-torchvision; pip: pip install torchvision) or '
              if origin == NO_TORCHVISION else '') + \
        'pass the ImageNet devkit\'s LOC_synset_mapping.txt (or one name per line) as --class-names'
    if choice == 'imagenet':
        raise ExportError(f'--class-names imagenet: {origin}; {remedy}')
    print(f'note: {origin}, so the classes are named "class 0" .. "class {num_classes - 1}"; {remedy} to name them',
          file=sys.stderr)
    return numbered, 'numbered'


def official_source(vae_path, var_path):
    """What the folder was made from: each checkpoint's file name, size and sha256."""
    files = [{'name': os.path.basename(p), 'sha256': sha256_file(p), 'bytes': os.path.getsize(p)}
             for p in (vae_path, var_path)]
    return {'kind': 'official', 'files': files}


def add_preview(out, cmd, images=None):
    """Fits the cheap preview map beside a written folder (var_tools.preview). A trained model's own
    generations are the latents (its sampling is fast); an official one's token maps are drawn from the
    codebook. A failure leaves the folder as it is (full partial decodes apply) and says why."""
    from .ort_node import OrtUnavailable
    from .preview import PreviewError, fit_preview, write_preview
    tokens = 'generated' if cmd == 'trained' else 'random'
    images = images or (64 if cmd == 'trained' else 8)
    try:
        record = fit_preview(out, tokens=tokens, images=images, log=lambda s: print(f'preview: {s}'))
    except (PreviewError, OrtUnavailable, RuntimeError) as e:
        print(f'warning: no preview map for {out} ({e}); fit one later with '
              f'python -m var_tools.preview --model {out}', file=sys.stderr)
        return None
    path = write_preview(out, record)
    print(f"wrote {path}: {record['kind']} map, held-out PSNR {record['psnr']['held_out_db']} dB")
    return path


def main(argv=None):
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    p = argparse.ArgumentParser(prog='var_tools.export', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--out', required=True)
    common.add_argument('--force', action='store_true', help='replace a folder that holds another model')
    common.add_argument('--cfg', type=float)
    common.add_argument('--top-k', type=int)
    common.add_argument('--top-p', type=float)
    common.add_argument('--weights', choices=WEIGHT_CHOICES, default='fp32',
                        help='storage type of the weights; fp16 halves the files, compute stays float32; '
                             'int8 quantizes the transformer\'s linear layers and runs them in int8 '
                             '(faster on CPUs, approximate)')
    common.add_argument('--external-data-threshold', type=int, default=EXTERNAL_DATA_THRESHOLD, metavar='BYTES',
                        help='a graph with more weight bytes than this keeps them in <graph>.onnx.data '
                             '(default %(default)s, just under the 2 GiB protobuf limit)')
    common.add_argument('--no-preview', action='store_true',
                        help='skip fitting the cheap preview map (preview.json, var_tools.preview); the studio '
                             'then shows full partial decodes')
    common.add_argument('--preview-images', type=int, metavar='N',
                        help='latents the preview map is fitted on (default 64 for trained, 8 for official)')
    a = sub.add_parser('trained', parents=[common])
    a.add_argument('--run', required=True)
    a.add_argument('--classifier')
    a.add_argument('--checkpoint', default='var.pt', metavar='FILE',
                   help='VAR weights in RUN/var to export (a snapshot kept with train --keep-at: var-stepN.pt)')
    a.add_argument('--id', default='fashion-mnist-var-d4')
    a.add_argument('--name', default='Fashion-MNIST VAR d4 (embedded)')
    a = sub.add_parser('official', parents=[common])
    a.add_argument('--vae', required=True)
    a.add_argument('--var', required=True)
    a.add_argument('--class-names', default='auto', metavar='FILE|imagenet|numbered',
                   help='a text file with one class name per line or the ImageNet devkit\'s '
                        'LOC_synset_mapping.txt; "imagenet" for the category list that torchvision carries; '
                        '"numbered" for "class 0" .. "class 999" (default: imagenet when torchvision is '
                        'installed, numbered otherwise)')
    a.add_argument('--id')
    args = p.parse_args(argv)
    try:
        if args.cmd == 'trained':
            from .data import CLASS_NAMES
            vae, var, ck = load_trained(args.run, args.checkpoint)
            classifier = None
            if args.classifier:
                from .classifier import load_classifier
                classifier = load_classifier(args.classifier)
            metrics_path = os.path.join(args.run, 'vqvae', 'metrics.json')
            metrics = json.load(open(metrics_path)) if os.path.exists(metrics_path) else {}
            source = {'kind': 'trained', 'dataset': 'fashion-mnist', 'var_steps': int(ck['step']),
                      'vqvae_test_mse': metrics.get('test_mse_01')}
            source = {k: v for k, v in source.items() if v is not None}
            defaults = {'cfg': 3.0, 'top_k': 0, 'top_p': 0.95}
            names, mid, display = CLASS_NAMES, args.id, args.name
        else:
            vae, var, depth = load_official(args.vae, args.var)
            classifier = None
            source = official_source(args.vae, args.var)
            defaults = {'cfg': 1.5, 'top_k': 900, 'top_p': 0.96}
            names, source['class_names'] = choose_class_names(args.class_names, var.num_classes)
            mid, display = args.id or f'var-d{depth}', f'VAR d{depth} (ImageNet 256)'
            if WEIGHT_DTYPES[args.weights] == 'float16':
                mid, display = args.id or f'{mid}-fp16', f'{display}, float16 weights'
            elif WEIGHT_DTYPES[args.weights] == 'int8':
                mid, display = args.id or f'{mid}-int8', f'{display}, int8 transformer'
        for key, val in (('cfg', args.cfg), ('top_k', args.top_k), ('top_p', args.top_p)):
            if val is not None:
                defaults[key] = val
        man = write_model_folder(vae, var, args.out, model_id=mid, display_name=display, class_names=names,
                                 sampling_defaults=defaults, source=source, classifier=classifier, force=args.force,
                                 weights=args.weights, external_data_threshold=args.external_data_threshold)
        total = sum(f['bytes'] for f in man['files'].values())
        print(f'wrote {args.out}: {len(man["files"])} files, {total / 1e6:.1f} MB')
        if not args.no_preview:
            add_preview(args.out, args.cmd, args.preview_images)
    except ExportError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
