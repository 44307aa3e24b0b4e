"""Exporter: ONNX vs PyTorch parity through the studio's own inference code (teacher forced and free running), manifest, bad input."""
import hashlib
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from var_tools import ort_node
from var_tools.export import (ExportError, GraphOptions, check_state_dict, load_official, sha256_file,
                              write_model_folder)
from var_tools.manifest import validate_manifest
from var_tools.parity import (blocks_effect, exercise_every_block, free_running_parity, random_ids,
                              teacher_forced_parity)
from var_tools.var_model import VAR
from var_tools.vqvae import VQVAE, resample_matrices
from var_tools.train import EMBEDDED_VAE

TOL = 1e-4
NAMES = [f'c{i}' for i in range(10)]


def tiny_models(seed=0):
    torch.manual_seed(seed)
    vae = VQVAE(**EMBEDDED_VAE).eval()
    var = VAR(Cvae=16, vocab_size=512, num_classes=10, depth=2, embed_dim=128, num_heads=2,
              patch_nums=EMBEDDED_VAE['patch_nums']).eval()
    # attention, MLP, AdaLN and the temperature cap all move the logits; a head of 0.2 keeps the draws varied
    exercise_every_block(var, seed, init_head=0.2)
    with torch.no_grad():
        vae.quantize.embedding.weight.normal_()
    return vae, var


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    if not ort_node.node_available():
        pytest.fail('onnxruntime-node is not installed: run `npm ci` before the Python tests')
    vae, var = tiny_models()
    out = str(tmp_path_factory.mktemp('m') / 'tiny')
    man = write_model_folder(vae, var, out, model_id='tiny', display_name='tiny', class_names=NAMES,
                             sampling_defaults={'cfg': 2.0, 'top_k': 0, 'top_p': 0.95}, source={'kind': 'trained'})
    return vae, var, out, man




def test_resample_matrices_equal_torch_interpolate():
    pns = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    ups, downs = resample_matrices(pns)
    x = torch.randn(3, 4, 16, 16)
    for si, pn in enumerate(pns[:-1]):
        h = torch.randn(3, 4, pn, pn)
        ref = F.interpolate(h, size=(16, 16), mode='bicubic')
        assert (ups[si] @ h @ ups[si].t() - ref).abs().max() < 1e-5
        ref_d = F.interpolate(x, size=(pns[si + 1],) * 2, mode='area')
        assert (downs[si] @ x @ downs[si].t() - ref_d).abs().max() < 1e-5


def test_quantizer_round_trip():
    vae, _ = tiny_models()
    x = torch.rand(4, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        f = vae.encode(x)
        walk = list(vae.quantize._walk(f))
        ids = [idx for _si, idx, _h, _f in walk]
        fhats = vae.quantize.idx_to_fhats(ids)
    assert [i.shape[1] for i in ids] == [pn * pn for pn in vae.patch_nums]
    assert all(int(i.min()) >= 0 and int(i.max()) < vae.V for i in ids)
    for (_si, _idx, _h, f_walk), f_dec in zip(walk, fhats):
        assert torch.equal(f_walk, f_dec)


def test_full_prefix_logits_match_pytorch(exported):
    vae, var, out, _man = exported
    ids = random_ids(vae, var.patch_nums, 2)
    labels = torch.tensor([3, 10])
    with torch.no_grad():
        x_in = vae.quantize.idx_to_var_input(ids)
        ref = var(labels, x_in, drop_labels=False).numpy()
    L = var.L
    x_cvae = torch.cat([torch.zeros(2, 1, 16), x_in], 1).numpy()
    attn = var.attn_bias_for_masking[0, 0].numpy()
    empty = np.zeros((var.depth, 2, var.num_heads, 0, var.head_dim), np.float32)
    res = ort_node.var_step(out, {
        'cond_label': labels.numpy(), 'x_cvae': x_cvae, 'pos': np.arange(L), 'attn_bias': attn,
        'past_k': empty, 'past_v': empty})
    assert res['logits'].shape == (2, L, vae.V)
    assert np.abs(res['logits'] - ref).max() <= TOL
    assert res['present_k'].shape == (var.depth, 2, var.num_heads, L, var.head_dim)


def test_cached_steps_vq_step_and_decode_match_pytorch(exported):
    vae, var, out, _man = exported
    d = teacher_forced_parity(vae, var, out, random_ids(vae, var.patch_nums, 2), torch.tensor([1, 7]))
    assert max(d['logits']) <= TOL, d['logits']
    assert max(d['f_hat']) <= TOL, d['f_hat']
    assert max(d['next_tok']) <= TOL, d['next_tok']
    assert d['image'] <= TOL
    assert 0 <= d['image_range'][0] and d['image_range'][1] <= 1
    assert d['top1_agreement'] == 1.0  # float32 end to end: the same token ranks first everywhere
    # the blocks matter (test_random_weights_exercise_every_block), and a 1 % error in an attention or MLP layer, or
    # an ignored temperature cap, would move the comparison far past the tolerance
    assert d['blocks_off_logits'] >= 8
    for what, moved in d['sensitivity'].items():
        assert moved >= 100 * TOL, (what, moved)


def test_random_weights_exercise_every_block():
    """Measured with tiny_models(0) (depth 2, C 128, two images): switching every block off moves the
    teacher-forced logits by 11.5 (max |logit| 8.9; the head is scaled by 0.2 so that draws stay
    varied: with 1.0, 57.4 of 43.8). The weights these tests used before
    (init_weights(init_adaln_gamma=0.3, init_head=0.5)) moved them by 0.027 of 25.4, training's init
    by 3e-7 of 0.9."""
    vae, var = tiny_models()
    ids, labels = random_ids(vae, var.patch_nums, 2), torch.tensor([1, 7])
    moved, absmax = blocks_effect(vae, var, ids, labels)
    print(f'blocks off: {moved:.3f} of {absmax:.3f}')
    assert moved >= 8 and moved >= 0.5 * absmax
    # every part counts: the temperatures differ per head, one head past the log(100) cap
    for b in var.blocks:
        temps = b.attn.scale_mul_1H11.flatten()
        assert temps[0] > b.attn.max_scale_mul and temps[1] < 0
        g = b.ada_lin[-1].bias[:2 * var.C]
        assert 0.5 < float(g.mean()) < 1.5  # gammas on
    # training's init leaves the blocks nearly silent: the reason for these weights
    torch.manual_seed(0)
    quiet = VAR(Cvae=16, vocab_size=512, num_classes=10, depth=2, embed_dim=128, num_heads=2,
                patch_nums=EMBEDDED_VAE['patch_nums']).eval()
    quiet.init_weights()
    assert blocks_effect(vae, quiet, ids, labels)[0] < 0.1


def test_free_running_tokens_match_pytorch_in_process_and_through_the_host(exported):
    """The engine's own draws fed to a PyTorch loop: the same token maps, in the studio's process
    and through the inference host process, and the same image."""
    vae, var, out, _man = exported
    for sampling in ({'cfg': 2.0, 'top_k': 0, 'top_p': 0.95}, {'cfg': 4.0, 'top_k': 20, 'top_p': 1.0}):
        d = free_running_parity(vae, var, out, [1, 7], [5, 6], sampling)
        assert d['tokens_equal'] and d['host_tokens_equal'], sampling
        assert d['image'] <= TOL and d['host_image'] <= TOL
        # the draws are not degenerate: many distinct tokens at the last scale
        assert len(np.unique(d['tokens'][-1])) > 20


def test_more_smooth_matches_pytorch_with_the_engines_doubles(exported):
    """more_smooth through the studio's code (in process and through the host): the ids and the
    Gumbel noise of every token come from the engine's doubles, PyTorch (sample.smooth_embedding)
    mixes the codebook rows with them; the same token maps and the same image. The last scale's
    temperature 0.0135 multiplies the ~1e-6 logit differences by ~150 inside the softmax, hence the
    wider image tolerance."""
    vae, var, out, _man = exported
    for sampling in ({'cfg': 4.0, 'top_k': 0, 'top_p': 0.95, 'more_smooth': True},
                     {'cfg': 1.5, 'top_k': 30, 'top_p': 0.0, 'more_smooth': True}):
        d = free_running_parity(vae, var, out, [1, 7], [5, 6], sampling)
        assert d['tokens_equal'] and d['host_tokens_equal'], sampling
        assert d['image'] <= 1e-3 and d['host_image'] <= 1e-3, (d['image'], d['host_image'])
        plain = free_running_parity(vae, var, out, [1, 7], [5, 6], dict(sampling, more_smooth=False), host=False)
        # smoothing changes the image far beyond the tolerance, and it consumed a double per surviving id
        assert np.abs(plain['ref_image'] - d['ref_image']).max() > 0.05
        assert min(d['used']) > 2 * var.L


def test_manifest_describes_the_folder(exported):
    _vae, var, out, man = exported
    with open(os.path.join(out, 'manifest.json')) as f:
        on_disk = json.load(f)
    assert on_disk == man
    validate_manifest(on_disk, out, check_hashes=True)
    assert set(man['files']) == set(os.listdir(out)) - {'manifest.json'}
    ins = {i['name']: i for i in man['graphs']['var_step']['inputs']}
    assert ins['past_k']['shape'] == [var.depth, 'N', var.num_heads, 'P', var.head_dim]
    assert ins['cond_label']['dtype'] == 'int64'
    assert man['phi_index'] == [0, 0, 1, 2, 3, 3]


def test_manifest_validation_catches_lies(exported, tmp_path):
    _vae, _var, out, man = exported
    bad = json.loads(json.dumps(man))
    bad['files']['codebook.f32']['sha256'] = '0' * 64
    with pytest.raises(ValueError, match='codebook.f32'):
        validate_manifest(bad, out, check_hashes=True)
    bad = json.loads(json.dumps(man))
    bad['begin'][2] += 1
    with pytest.raises(ValueError, match='begin'):
        validate_manifest(bad, out)
    bad = json.loads(json.dumps(man))
    bad['class_names'] = bad['class_names'][:3]
    with pytest.raises(ValueError, match='class_names'):
        validate_manifest(bad, out)


def test_reexport_same_model_is_noop_and_different_model_is_refused(exported):
    vae, var, out, man = exported
    before = sha256_file(os.path.join(out, 'var_step.onnx'))
    again = write_model_folder(vae, var, out, model_id='tiny', display_name='tiny', class_names=NAMES,
                               sampling_defaults=man['sampling_defaults'], source={'kind': 'trained'})
    assert again['files'] == man['files']
    vae2, var2 = tiny_models(seed=5)
    with pytest.raises(ExportError, match='already holds a different model'):
        write_model_folder(vae2, var2, out, model_id='other', display_name='other', class_names=NAMES,
                           sampling_defaults=man['sampling_defaults'], source={'kind': 'trained'})
    assert sha256_file(os.path.join(out, 'var_step.onnx')) == before
    assert not [n for n in os.listdir(os.path.dirname(out)) if n.startswith('.export-')]


def test_non_model_folder_is_refused(tmp_path):
    vae, var = tiny_models()
    (tmp_path / 'notes.txt').write_text('mine')
    with pytest.raises(ExportError, match='not empty'):
        write_model_folder(vae, var, str(tmp_path), model_id='x', display_name='x', class_names=NAMES,
                           sampling_defaults={}, source={})
    assert (tmp_path / 'notes.txt').read_text() == 'mine'


def test_mismatched_schedules_are_refused(tmp_path):
    vae, _ = tiny_models()
    var = VAR(Cvae=16, vocab_size=512, num_classes=10, depth=1, embed_dim=64, num_heads=1, patch_nums=(1, 2, 7))
    with pytest.raises(ExportError, match='patch schedule mismatch'):
        write_model_folder(vae, var, str(tmp_path / 'o'), model_id='x', display_name='x', class_names=NAMES,
                           sampling_defaults={}, source={})


def test_state_dict_errors_list_missing_and_unexpected_keys():
    _, var = tiny_models()
    sd = var.state_dict()
    sd.pop('head.bias')
    sd.pop('blocks.1.ffn.fc1.weight')
    sd['blocks.9.attn.proj.weight'] = torch.zeros(1)
    sd['pos_1LC'] = torch.zeros(1, 3, 128)
    with pytest.raises(ExportError) as e:
        check_state_dict(var, sd, 'VAR checkpoint x.pth')
    msg = str(e.value)
    assert 'missing keys (2): blocks.1.ffn.fc1.weight, head.bias' in msg
    assert 'unexpected keys (1): blocks.9.attn.proj.weight' in msg
    assert 'pos_1LC [1, 3, 128]' in msg


def test_official_loader_rejects_truncated_and_wrong_files(tmp_path):
    vae_path = tmp_path / 'vae.pth'
    torch.save({'encoder.conv_in.weight': torch.zeros(1)}, vae_path)
    trunc = tmp_path / 'var_d16.pth'
    torch.save({'blocks.0.attn.q_bias': torch.zeros(4)}, trunc)
    data = trunc.read_bytes()
    trunc.write_bytes(data[:len(data) // 2])
    with pytest.raises(ExportError, match='truncated'):
        load_official(str(vae_path), str(trunc))
    with pytest.raises(ExportError, match='does not exist'):
        load_official(str(tmp_path / 'nope.pth'), str(trunc))
    good_var = tmp_path / 'var.pth'
    torch.save({'blocks.0.attn.q_bias': torch.zeros(4)}, good_var)
    with pytest.raises(ExportError, match='missing keys'):
        load_official(str(vae_path), str(good_var))


def test_shipped_model_folder_is_complete_and_consistent():
    folder = os.path.join(os.path.dirname(__file__), '..', 'fashion-mnist-var')
    with open(os.path.join(folder, 'manifest.json')) as f:
        man = json.load(f)
    validate_manifest(man, folder, check_hashes=True)
    # calibration.json (the studio's search defaults for this model) and preview.json (its cheap
    # preview map) sit beside the files the manifest hashes: each is checked against the manifest's
    # sha256 and its own digest instead
    beside = {'calibration.json', 'preview.json'}
    assert set(man['files']) == set(os.listdir(folder)) - {'manifest.json'} - beside
    with open(os.path.join(folder, 'manifest.json'), 'rb') as f:
        manifest_sha = hashlib.sha256(f.read()).hexdigest()
    for name in sorted(beside):
        with open(os.path.join(folder, name)) as f:
            record = json.load(f)
        assert record['model'] == {'id': man['id'], 'manifestSha256': manifest_sha}, name
    assert sum(f['bytes'] for f in man['files'].values()) <= 40 * 1024 * 1024
    assert man['graphs']['classifier']['outputs'][1]['name'] == 'features'
    assert man['source']['kind'] == 'trained' and man['class_names'][9] == 'Ankle boot'


def test_official_method_names_agree_with_ours():
    vae, _ = tiny_models()
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        ids = vae.img_to_idxBl(x)
        assert all(torch.equal(a, b) for a, b in zip(ids, vae.img_to_idx(x)))
        f = vae.encode(x)
        fh = vae.quantize.f_to_idxBl_or_fhat(f, to_fhat=True)
        assert torch.equal(fh[-1], vae.quantize.idx_to_fhats(ids)[-1])
        assert torch.equal(vae.quantize.idxBl_to_var_input(ids), vae.quantize.idx_to_var_input(ids))
        assert torch.equal(vae.idxBl_to_img(ids, same_shape=True, last_one=True), vae.idx_to_img(ids))
        assert len(vae.idxBl_to_img(ids, same_shape=True)) == len(vae.patch_nums)


# ------------------------------------------------------------------ weight storage: external data, float16
def _export_tiny(out, **kw):
    vae, var = tiny_models()
    man = write_model_folder(vae, var, out, model_id='tiny', display_name='tiny', class_names=NAMES,
                             sampling_defaults={'cfg': 2.0, 'top_k': 0, 'top_p': 0.95}, source={'kind': 'trained'},
                             **kw)
    return vae, var, man


def test_external_data_is_listed_verified_and_loads_in_onnxruntime_node(tmp_path):
    import onnx
    out = str(tmp_path / 'ext')
    # threshold 0 forces what a 2 GB+ graph (var_d20 and up) gets by default
    vae, var, man = _export_tiny(out, external_data_threshold=0)
    for g in ('var_step', 'vq_step', 'vae_decode'):
        data = f'{g}.onnx.data'
        assert man['graphs'][g]['external_data'] == [data]
        assert man['files'][data]['bytes'] > man['files'][f'{g}.onnx']['bytes']
        m = onnx.load(os.path.join(out, f'{g}.onnx'), load_external_data=False)
        offsets = [int({e.key: e.value for e in t.external_data}['offset'])
                   for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        assert offsets and all(o % 4096 == 0 for o in offsets)
    assert man['weight_dtype'] == 'float32'
    assert set(man['files']) == set(os.listdir(out)) - {'manifest.json'}  # no staging leftovers
    validate_manifest(man, out, check_hashes=True)
    d = teacher_forced_parity(vae, var, out, random_ids(vae, var.patch_nums, 2), torch.tensor([1, 7]))
    assert max(d['logits']) <= TOL and max(d['f_hat']) <= TOL and d['image'] <= TOL
    # the default threshold keeps a small model in single files, byte-identical to a plain export
    inline = str(tmp_path / 'inline')
    _v, _w, man2 = _export_tiny(inline)
    assert 'external_data' not in man2['graphs']['var_step']
    assert not [n for n in os.listdir(inline) if n.endswith('.data')]


def test_missing_external_data_is_reported_by_the_manifest_check(tmp_path):
    out = str(tmp_path / 'ext')
    _vae, _var, man = _export_tiny(out, external_data_threshold=0)
    os.remove(os.path.join(out, 'var_step.onnx.data'))
    with pytest.raises(ValueError, match=r'files.var_step.onnx.data: .* does not exist'):
        validate_manifest(man, out)
    bad = json.loads(json.dumps(man))
    del bad['files']['vq_step.onnx.data']
    with pytest.raises(ValueError, match='vq_step.onnx.data: not listed'):
        validate_manifest(bad)


# float16 storage rounds every weight to 11 significant bits (relative error <= 2^-11 = 4.9e-4); through
# the depth-2 tiny model that moves logits by at most 0.1 % of their largest magnitude and decoded pixels
# (in [0, 1]) by far less than one 8-bit level (1/255 = 3.9e-3). Measured values are in the README.
FP16_LOGITS_REL = 1e-3
FP16_IMAGE = 2e-3
FP16_F_HAT = 1e-3


def test_fp16_weights_halve_the_files_and_keep_compute_float32(tmp_path):
    import onnx
    out = str(tmp_path / 'half')
    vae, var, man = _export_tiny(out, weights='fp16')
    _v, _w, full = _export_tiny(str(tmp_path / 'full'))
    assert man['weight_dtype'] == 'float16'
    for g in ('var_step', 'vae_decode'):
        ratio = man['files'][f'{g}.onnx']['bytes'] / full['files'][f'{g}.onnx']['bytes']
        assert 0.45 < ratio < 0.6, (g, ratio)
        # inputs and outputs keep the contract's float32; only stored weights changed
        assert man['graphs'][g]['inputs'] == full['graphs'][g]['inputs']
        assert man['graphs'][g]['outputs'] == full['graphs'][g]['outputs']
    m = onnx.load(os.path.join(out, 'var_step.onnx'))
    halves = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    users = {}
    for n in m.graph.node:
        for name in n.input:
            users.setdefault(name, []).append(n)
    for t in halves:
        (user,) = users[t.name]
        if user.op_type == 'Gather':  # AdaLN's tables: the label's row is gathered, then cast
            (user,) = users[user.output[0]]
        assert user.op_type == 'Cast' and user.attribute[0].i == onnx.TensorProto.FLOAT, t.name
    assert {f'ada_{i}' for i in range(var.depth)} | {'ada_head'} <= {t.name for t in halves}
    onnx.checker.check_model(m)
    validate_manifest(man, out, check_hashes=True)
    d = teacher_forced_parity(vae, var, out, random_ids(vae, var.patch_nums, 2), torch.tensor([1, 7]))
    print('fp16 parity', json.dumps({k: (max(v) if isinstance(v, list) and k != 'image_range' else v)
                                     for k, v in d.items()}))
    assert max(d['logits']) <= FP16_LOGITS_REL * d['logits_absmax'], (max(d['logits']), d['logits_absmax'])
    assert max(d['f_hat']) <= FP16_F_HAT
    assert d['image'] <= FP16_IMAGE
    # the same folder with external data as well: both options compose
    _v, _w, both = _export_tiny(str(tmp_path / 'both'), weights='fp16', external_data_threshold=0)
    assert both['files']['var_step.onnx.data']['bytes'] < full['files']['var_step.onnx']['bytes'] * 0.6


# int8 transformer weights: the stated bound (README) is logits within 3 % of the largest logit; the
# VQ-VAE keeps float32, so f_hat and the image only see the teacher-forced ids, which are the same
INT8_LOGITS_REL = 3e-2


def test_int8_weights_run_the_linear_layers_in_int8(tmp_path):
    import onnx
    out = str(tmp_path / 'q')
    vae, var, man = _export_tiny(out, weights='int8')
    _v, _w, full = _export_tiny(str(tmp_path / 'full'))
    assert man['weight_dtype'] == 'int8'
    # the linear layers shrink 4x; embeddings and small weights stay float32
    assert man['files']['var_step.onnx']['bytes'] < 0.4 * full['files']['var_step.onnx']['bytes']
    assert man['graphs']['var_step']['inputs'] == full['graphs']['var_step']['inputs']
    m = onnx.load(os.path.join(out, 'var_step.onnx'))
    q = [n for n in m.graph.node if n.op_type == 'DynamicQuantizeMatMul']
    from var_tools.export import INT8_MIN_ELEMENTS
    big = {t.name for t in m.graph.initializer if len(t.dims) == 2 and t.dims[0] * t.dims[1] >= INT8_MIN_ELEMENTS}
    left = [n for n in m.graph.node if n.op_type in ('MatMul', 'Gemm') and n.input[1] in big]
    assert q and not left, (len(q), [n.name for n in left])
    # per block qkv, proj and both MLP layers, then the head, and the word embedding where it is large
    # enough; AdaLN is a float16 table (its modulation rounded to 11 bits, not run through int8 products)
    word = var.Cvae * var.C >= INT8_MIN_ELEMENTS
    assert len(q) == 4 * var.depth + 1 + word, len(q)
    tables = {t.name: t for t in m.graph.initializer if t.name.startswith('ada_')}
    assert len(tables) == var.depth + 1 and all(t.data_type == onnx.TensorProto.FLOAT16 for t in tables.values())
    int8 = {t.name for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8}
    assert all(n.domain == 'com.microsoft' and n.input[1] in int8 for n in q)
    onnx.checker.check_model(m)
    validate_manifest(man, out, check_hashes=True)
    d = teacher_forced_parity(vae, var, out, random_ids(vae, var.patch_nums, 2), torch.tensor([1, 7]))
    print('int8 parity', json.dumps({k: (max(v) if isinstance(v, list) and k != 'image_range' else v)
                                     for k, v in d.items()}))
    assert max(d['logits']) <= INT8_LOGITS_REL * d['logits_absmax'], (max(d['logits']), d['logits_absmax'])
    assert max(d['logits']) > FP16_LOGITS_REL * d['logits_absmax']  # it is int8 arithmetic, not a no-op
    assert d['top1_agreement'] >= 0.9, d['top1_agreement']
    assert max(d['f_hat']) <= 1e-4 and d['image'] <= 1e-4


def test_weight_options_are_checked():
    with pytest.raises(ExportError, match='choose fp32, fp16 or int8'):
        GraphOptions('int4')
    with pytest.raises(ExportError, match='negative'):
        GraphOptions('fp32', -1)


# ------------------------------------------------------------------ official checkpoints: bad input
def _official_pair(tmp_path, depth=2):
    from var_tools.var_model import official_var_config
    from var_tools.vqvae import official_vae_config
    torch.manual_seed(0)
    vae_path, var_path = tmp_path / 'vae_ch160v4096z32.pth', tmp_path / f'var_d{depth}.pth'
    torch.save(VQVAE(**official_vae_config()).state_dict(), vae_path)
    torch.save(VAR(**official_var_config(depth)).state_dict(), var_path)
    return vae_path, var_path


def test_truncated_official_checkpoints_name_the_file(tmp_path):
    vae_path, var_path = _official_pair(tmp_path)
    for path, what in ((vae_path, 'VQ-VAE checkpoint'), (var_path, 'VAR checkpoint')):
        whole = path.read_bytes()
        path.write_bytes(whole[:int(len(whole) * 0.9)])  # an interrupted download
        with pytest.raises(ExportError) as e:
            load_official(str(vae_path), str(var_path))
        msg = str(e.value)
        assert msg.startswith(f'{what} {path} could not be read') and 'truncated' in msg, msg
        path.write_bytes(whole)
        path.write_bytes(b'')  # an empty file is a truncated file too
        with pytest.raises(ExportError, match=f'{what} .*could not be read.*truncated'):
            load_official(str(vae_path), str(var_path))
        path.write_bytes(whole)
    vae, var, depth = load_official(str(vae_path), str(var_path))
    assert depth == 2


def test_swapped_and_misnamed_official_checkpoints(tmp_path):
    vae_path, var_path = _official_pair(tmp_path)
    with pytest.raises(ExportError, match=r'look swapped: --vae takes vae_ch160v4096z32.pth'):
        load_official(str(var_path), str(vae_path))
    renamed = tmp_path / 'var_d16.pth'
    var_path.rename(renamed)
    with pytest.raises(ExportError, match=r'var_d16.pth holds a depth-2 transformer \(2 blocks\), but its name '
                                          r'says depth 16'):
        load_official(str(vae_path), str(renamed))


def test_class_names_files_plain_and_devkit(tmp_path):
    from var_tools.export import ExportError, read_class_names
    plain = tmp_path / 'plain.txt'
    plain.write_text('alpha\n\nbeta, with a comma\ngamma\n')
    assert read_class_names(str(plain), 3) == ['alpha', 'beta, with a comma', 'gamma']
    devkit = tmp_path / 'LOC_synset_mapping.txt'
    devkit.write_text(''.join(f'n{i:08d} name {i}, synonym {i}\n' for i in range(4)))
    assert read_class_names(str(devkit), 4) == ['name 0', 'name 1', 'name 2', 'name 3']
    latin1 = tmp_path / 'latin1.txt'
    latin1.write_bytes(b'caf\xe9\n')
    with pytest.raises(ExportError, match='is not UTF-8 text'):
        read_class_names(str(latin1), 1)


def test_official_cli_records_sources_and_class_names(tmp_path, capsys):
    from var_tools.export import main as export_main
    vae_path, var_path = _official_pair(tmp_path)
    bad_names = tmp_path / 'names.txt'
    bad_names.write_text('a\nb\n')
    assert export_main(['official', '--vae', str(vae_path), '--var', str(var_path), '--out', str(tmp_path / 'x'),
                        '--class-names', str(bad_names)]) == 2
    assert 'has 2 class names; the checkpoint has 1000 classes' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()


def test_official_class_names_numbered_file_or_missing_torchvision(tmp_path, monkeypatch, capsys):
    import sys
    from var_tools.export import choose_class_names, main as export_main
    assert choose_class_names('numbered', 1000) == ([f'class {i}' for i in range(1000)], 'numbered')
    names = tmp_path / 'LOC_synset_mapping.txt'
    names.write_text(''.join(f'n{i:08d} thing {i}, other\n' for i in range(1000)))
    got, origin = choose_class_names(str(names), 1000)
    assert got[3] == 'thing 3' and origin == 'file LOC_synset_mapping.txt'
    names, origin = choose_class_names('imagenet', 1000)  # torchvision is installed here (.ci/run)
    assert names[207] == 'golden retriever' and origin.startswith('ImageNet categories, torchvision ')
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, 'torchvision', None)  # the import fails as on a machine without it
    assert choose_class_names('auto', 1000) == ([f'class {i}' for i in range(1000)], 'numbered')
    assert 'torchvision is not installed, so the classes are named "class 0"' in capsys.readouterr().err
    vae_path, var_path = _official_pair(tmp_path)
    assert export_main(['official', '--vae', str(vae_path), '--var', str(var_path), '--out', str(tmp_path / 'i'),
                        '--class-names', 'imagenet']) == 2
    assert '--class-names imagenet: torchvision is not installed' in capsys.readouterr().err
    assert not (tmp_path / 'i').exists()


def test_imagenet_names_for_a_checkpoint_of_another_class_count_say_why():
    from var_tools.export import ExportError, choose_class_names
    with pytest.raises(ExportError, match=r'names 1000 classes, the checkpoint has 10; pass the ImageNet devkit'):
        choose_class_names('imagenet', 10)
    assert choose_class_names('auto', 10) == ([f'class {i}' for i in range(10)], 'numbered')


def test_torch_per_tensor_external_files_are_gathered_into_one(tmp_path):
    """Past 2 GB torch 1.13 writes one file per tensor next to the graph, Constant values included
    (LayerNorm's explicit ones from d20 up); the exporter gathers them all."""
    import onnx
    from onnx import helper, numpy_helper
    from var_tools.export import _finish_graph
    raw = tmp_path / 'raw'
    raw.mkdir()
    w = np.arange(64 * 32, dtype=np.float32).reshape(64, 32) / 100
    b = np.linspace(-1, 1, 32, dtype=np.float32)
    s = np.linspace(0.5, 2, 32, dtype=np.float32)  # a Constant node's value, stored outside like the weights
    graph = helper.make_graph(
        [helper.make_node('Constant', [], ['s'], value=numpy_helper.from_array(s, 's_value')),
         helper.make_node('MatMul', ['x', 'w'], ['h']), helper.make_node('Add', ['h', 'b'], ['hb']),
         helper.make_node('Mul', ['hb', 's'], ['y'])], 'g',
        [helper.make_tensor_value_info('x', onnx.TensorProto.FLOAT, ['N', 64])],
        [helper.make_tensor_value_info('y', onnx.TensorProto.FLOAT, ['N', 32])],
        [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET_FOR_TESTS)])
    from onnx.external_data_helper import convert_model_to_external_data
    convert_model_to_external_data(model, all_tensors_to_one_file=False, size_threshold=0, convert_attribute=True)
    onnx.save_model(model, str(raw / 'g.onnx'))
    assert len(os.listdir(raw)) == 4  # the graph and one file per tensor, as torch does it
    out = tmp_path / 'out'
    out.mkdir()
    _finish_graph(str(raw / 'g.onnx'), str(out / 'g.onnx'), GraphOptions('fp32', 0))
    assert sorted(os.listdir(out)) == ['g.onnx', 'g.onnx.data']
    x = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    want = (x @ w + b) * s
    y = ort_node.run(str(out / 'g.onnx'), {'x': x})['y']
    assert np.abs(y - want).max() < 1e-4
    # below the threshold the same tensors come back inline: one self-contained file
    inline = tmp_path / 'inline'
    inline.mkdir()
    _finish_graph(str(raw / 'g.onnx'), str(inline / 'g.onnx'), GraphOptions('fp16'))
    assert os.listdir(inline) == ['g.onnx']
    y16 = ort_node.run(str(inline / 'g.onnx'), {'x': x})['y']
    assert np.abs(y16 - want).max() < 1e-3 * np.abs(want).max()


OPSET_FOR_TESTS = 17
