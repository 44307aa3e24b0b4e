"""Teacher-forced parity between the PyTorch modules and an exported var-onnx/1 folder.

The ONNX side runs through onnxruntime-node, scale by scale with the KV cache exactly as the studio's
engine does; the PyTorch side is the full teacher-forced forward pass with the block-causal mask.
"""
import json
import os

import numpy as np
import torch

from . import ort_node


def random_ids(vae, patch_nums, B, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(vae.V, (B, pn * pn), generator=g) for pn in patch_nums]


def teacher_forced_parity(vae, var, model_dir, ids, labels):
    """Returns the max abs differences {'logits': [per scale], 'f_hat': [...], 'next_tok': [...], 'image': x}."""
    with open(os.path.join(model_dir, 'manifest.json')) as f:
        man = json.load(f)
    B = labels.shape[0]
    cond = np.concatenate([labels.numpy(), np.full(B, var.num_classes)])
    with torch.no_grad():
        x_in = vae.quantize.idx_to_var_input(ids)
        ref_logits = var(torch.from_numpy(cond), x_in.repeat(2, 1, 1), drop_labels=False).numpy()
        ref_fhats = [f.numpy() for f in vae.quantize.idx_to_fhats(ids)]
        ref_img = ((vae.fhat_to_img(torch.from_numpy(ref_fhats[-1])) + 1) / 2).numpy()
    codebook = np.fromfile(os.path.join(model_dir, man['codebook']['file']), dtype='<f4').reshape(vae.V, vae.Cvae)
    hw, S = man['latent_hw'], len(man['patch_nums'])
    past_k = past_v = np.zeros((var.depth, 2 * B, var.num_heads, 0, var.head_dim), np.float32)
    x_cvae = np.zeros((2 * B, man['first_l'], vae.Cvae), np.float32)
    f_hat = np.zeros((B, vae.Cvae, hw, hw), np.float32)
    diffs = {'logits': [], 'f_hat': [], 'next_tok': []}
    same_top, positions = 0, 0
    for si, pn in enumerate(man['patch_nums']):
        b, l = man['begin'][si], pn * pn
        res = ort_node.run(os.path.join(model_dir, 'var_step.onnx'), {
            'cond_label': cond, 'x_cvae': x_cvae, 'pos': np.arange(b, b + l),
            'attn_bias': np.zeros((l, b + l), np.float32), 'past_k': past_k, 'past_v': past_v})
        diffs['logits'].append(float(np.abs(res['logits'] - ref_logits[:, b:b + l]).max()))
        same_top += int((res['logits'].argmax(-1) == ref_logits[:, b:b + l].argmax(-1)).sum())
        positions += res['logits'].shape[0] * l
        past_k, past_v = res['present_k'], res['present_v']
        pn_next = man['patch_nums'][si + 1] if si + 1 < S else hw
        phi_sel = np.zeros(man['phi_count'], np.float32)
        phi_sel[man['phi_index'][si]] = 1
        vq = ort_node.run(os.path.join(model_dir, 'vq_step.onnx'), {
            'f_hat': f_hat, 'h_tok': codebook[ids[si].numpy()],
            'up': np.asarray(man['up'][si], np.float32).reshape(hw, pn), 'phi_sel': phi_sel,
            'down': np.asarray(man['down'][si], np.float32).reshape(pn_next, hw)})
        f_hat = vq['f_hat_out']
        diffs['f_hat'].append(float(np.abs(f_hat - ref_fhats[si]).max()))
        if si + 1 < S:
            ref_next = x_in[:, b + l - 1:b + l - 1 + pn_next ** 2].numpy()
            diffs['next_tok'].append(float(np.abs(vq['next_tok'] - ref_next).max()))
            x_cvae = np.concatenate([vq['next_tok'], vq['next_tok']], 0)
    img = ort_node.run(os.path.join(model_dir, 'vae_decode.onnx'), {'f_hat': f_hat})['image']
    if img.shape != ref_img.shape:
        raise AssertionError(f'decoded image shape {img.shape} != {ref_img.shape}')
    diffs['image'] = float(np.abs(img - ref_img).max())
    # how often both sides rank the same token first (every row and position of every scale)
    diffs['top1_agreement'] = same_top / positions
    # the scale the logit differences are judged against (float16 weights give a relative error)
    diffs['logits_absmax'] = float(np.abs(ref_logits).max())
    diffs['logits_std'] = float(ref_logits.std())
    diffs['image_range'] = [float(img.min()), float(img.max())]
    return diffs
