"""Checks a `var-onnx/1` manifest against its folder (the TypeScript side has its own zod schema)."""
import os

REQUIRED = {
    'format': str, 'id': str, 'display_name': str, 'depth': int, 'embed_dim': int, 'num_heads': int,
    'head_dim': int, 'num_classes': int, 'null_class': int, 'class_names': list, 'vocab_size': int, 'Cvae': int,
    'patch_nums': list, 'begin': list, 'L': int, 'first_l': int, 'latent_hw': int, 'image_size': int,
    'image_channels': int, 'phi_count': int, 'phi_index': list, 'quant_resi': float, 'up': list, 'down': list,
    'graphs': dict, 'codebook': dict, 'sampling_defaults': dict, 'files': dict, 'source': dict,
}
GRAPHS = ('var_step', 'vq_step', 'vae_decode')


def _fail(field, msg):
    raise ValueError(f'manifest field {field}: {msg}')


def validate_manifest(m, folder=None, check_hashes=False):
    for key, typ in REQUIRED.items():
        if key not in m:
            _fail(key, 'missing')
        ok = isinstance(m[key], (int, float)) if typ is float else isinstance(m[key], typ)
        if not ok or (typ is int and isinstance(m[key], bool)):
            _fail(key, f'expected {typ.__name__}, got {type(m[key]).__name__}')
    if m['format'] != 'var-onnx/1':
        _fail('format', f'{m["format"]!r} is not var-onnx/1')
    if len(m['class_names']) != m['num_classes']:
        _fail('class_names', f'{len(m["class_names"])} names for {m["num_classes"]} classes')
    if m['null_class'] != m['num_classes']:
        _fail('null_class', 'must equal num_classes')
    if m['embed_dim'] != m['num_heads'] * m['head_dim']:
        _fail('embed_dim', 'must equal num_heads * head_dim')
    pn = m['patch_nums']
    begin, acc = [], 0
    for p in pn:
        begin.append(acc)
        acc += p * p
    if m['begin'] != begin:
        _fail('begin', f'{m["begin"]} does not follow from patch_nums {pn} (expected {begin})')
    if m['L'] != acc:
        _fail('L', f'{m["L"]} != sum of squares {acc}')
    if m['first_l'] != pn[0] ** 2 or m['latent_hw'] != pn[-1]:
        _fail('first_l/latent_hw', 'inconsistent with patch_nums')
    if len(m['phi_index']) != len(pn) or not all(0 <= i < m['phi_count'] for i in m['phi_index']):
        _fail('phi_index', f'needs {len(pn)} entries in [0, {m["phi_count"]})')
    hw = pn[-1]
    for si, p in enumerate(pn):
        nxt = pn[si + 1] if si + 1 < len(pn) else hw
        if len(m['up'][si]) != hw * p:
            _fail(f'up[{si}]', f'expected {hw * p} values')
        if len(m['down'][si]) != nxt * hw:
            _fail(f'down[{si}]', f'expected {nxt * hw} values')
    for g in GRAPHS:
        if g not in m['graphs']:
            _fail(f'graphs.{g}', 'missing')
    if m.get('weight_dtype', 'float32') not in ('float32', 'float16', 'int8'):
        _fail('weight_dtype', f'{m["weight_dtype"]!r} is not float32, float16 or int8')
    files = m['source'].get('files')
    if files is not None:
        if not isinstance(files, list) or not all(
                isinstance(f, dict) and set(f) == {'name', 'sha256', 'bytes'} for f in files):
            _fail('source.files', 'expected a list of {name, sha256, bytes}')
    listed = [g['file'] for g in m['graphs'].values()] + [m['codebook']['file']]
    listed += [d for g in m['graphs'].values() for d in g.get('external_data', [])]
    for name in listed:
        if name not in m['files']:
            _fail(f'files.{name}', 'not listed')
    if folder is not None:
        from .export import sha256_file
        for name, info in m['files'].items():
            path = os.path.join(folder, name)
            if not os.path.exists(path):
                _fail(f'files.{name}', f'{path} does not exist')
            if os.path.getsize(path) != info['bytes']:
                _fail(f'files.{name}', f'size {os.path.getsize(path)} != {info["bytes"]}')
            if check_hashes and sha256_file(path) != info['sha256']:
                _fail(f'files.{name}', 'sha256 mismatch')
    return m
