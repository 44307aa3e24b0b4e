"""Writes the JSON golden fixtures that pin the TypeScript side to the PyTorch reference.

    /usr/bin/python3 -m var_tools.fixtures --run runs/fashion --model fashion-mnist-var \
        --classifier runs/classifier/classifier.pt --out ../test/fixtures

Files:
  teacher_forced.json  token ids of a real test image, logits of every scale for the conditional and
                       the null row, the next-scale inputs, f_hat after each scale, the decoded image
  classifier.json      a few test images with the classifier's logits and features
  selection.json       VAR-Scaling reference values (densities, bandwidths, mode ratio, branch, kept set
                       for a given permutation, pick probabilities) on fixed candidate sets
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

from . import data as fdata
from .export import sha256_file
from .sample import filter_logits
from .var_scaling import densities, select


def _f(a):
    """float32 values as JSON numbers that round-trip exactly."""
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def _g(a):
    """float32 values rounded to 8 significant digits (relative error < 1e-8, far inside every tolerance)."""
    return [float(f'{v:.8g}') for v in np.asarray(a, dtype=np.float32).ravel()]


def teacher_forced(vae, var, model_dir, image, label):
    with torch.no_grad():
        x = fdata.to_tensor(image[None])
        ids = vae.img_to_idx(x)
        x_in = vae.quantize.idx_to_var_input(ids)
        cond = torch.tensor([label, var.num_classes])
        logits = var(cond, x_in.repeat(2, 1, 1), drop_labels=False)
        fhats = vae.quantize.idx_to_fhats(ids)
        img = (vae.fhat_to_img(fhats[-1]) + 1) / 2
    scales = []
    for si, pn in enumerate(var.patch_nums):
        b, l = var.begin[si], pn * pn
        nxt = x_in[:, b + l - 1:b + l - 1 + var.patch_nums[si + 1] ** 2] if si + 1 < len(var.patch_nums) else None
        scales.append({
            'si': si, 'pn': pn, 'ids': ids[si][0].tolist(),
            'logits': _g(logits[:, b:b + l]),  # [2, l, V]: conditional row, then the null row
            'next_tok': _g(nxt) if nxt is not None else None,  # [1, pn_next^2, Cvae]
            'f_hat': _g(fhats[si]),  # [1, Cvae, hw, hw]
        })
    return {
        'model_id': json.load(open(os.path.join(model_dir, 'manifest.json')))['id'],
        'var_step_sha256': sha256_file(os.path.join(model_dir, 'var_step.onnx')),
        'cond_label': [label, var.num_classes], 'vocab_size': var.V, 'Cvae': var.Cvae,
        'scales': scales, 'image': _g(img), 'image_shape': list(img.shape),
        'tolerance': {'logits': 1e-4, 'f_hat': 1e-4, 'image': 1e-3},
    }


def classifier_cases(clf, images, labels):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    with torch.no_grad():
        logits, feats = clf(x)
    return {'images': _f(x), 'shape': list(x.shape), 'labels': labels.tolist(), 'logits': _g(logits),
            'features': _g(feats), 'feature_dim': int(feats.shape[1]), 'tolerance': 1e-4}


def candidate_sets(vae, var, codebook, seed=0):
    """Real candidates: N draws at scale 1 from the model's own guided logits for two classes."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        B, N, si = 2, 50, 1
        labels = torch.tensor([0, 8])
        cond = torch.cat([labels, torch.full_like(labels, var.num_classes)])
        pk, pv = var.empty_cache(2 * B)
        lg0, pk, pv = var.step(cond, torch.zeros(2 * B, 1, var.Cvae), torch.arange(0, 1), torch.zeros(1, 1), pk, pv)
        # scale-0 token: the most likely id (guidance is 0 at scale 0); then the scale-1 input
        id0 = lg0[:B].argmax(-1)
        fh = vae.quantize.phi(0)(vae.quantize._upsample(
            vae.quantize.embedding(id0).transpose(1, 2).reshape(B, var.Cvae, 1, 1), 0))
        nxt = torch.nn.functional.interpolate(fh, size=(2, 2), mode='area').flatten(2).transpose(1, 2)
        logits, _, _ = var.step(cond, nxt.repeat(2, 1, 1), torch.arange(1, 5), torch.zeros(4, 5), pk, pv)
        t = 3.0 * si / (len(var.patch_nums) - 1)
        z = filter_logits((1 + t) * logits[:B] - t * logits[B:], 0, 0.95)
        probs = z.softmax(-1)  # [B, 4, V]
        ids = torch.stack([torch.multinomial(probs[b], N, replacement=True, generator=g).t() for b in range(B)])
    ids = ids.numpy()  # [B, N, P]
    return ids, codebook[ids]


def synthetic_sets(codebook, rng):
    """A row with a clear mode (Top-k branch) and a row of all-distinct tokens (Random-k branch)."""
    N, P = 40, 4
    V = codebook.shape[0]
    mode = rng.choice(V, P, replace=False)
    a = rng.choice(V, (N, P))
    a[:8] = mode  # 8 identical copies of one map
    a[8:14, :2] = mode[:2]  # partial agreement
    b = np.stack([rng.permutation(V)[:N] for _ in range(P)], 1)  # all distinct per position
    ids = np.stack([a, b])
    return ids, codebook[ids]


def selection_cases(ids, feats, rng, name):
    cases = []
    B, N = ids.shape[:2]
    for kernel in ('gaussian', 'exactMatch'):
        for pool in (False, True):
            D, bw = densities(feats, ids, kernel=kernel, pool_over_batch=pool)
            for alpha, k, dedup in ((2.3, 10, 1.8), (2.3, 10, 0.3), (1.2, 5, 0.0)):
                rows = []
                for b in range(B):
                    perm = rng.permutation(N).tolist()
                    sel = select(feats[b], D[b], alpha, k, dedup, perm)
                    rows.append({'permutation': perm, **sel})
                cases.append({'name': f'{name}/{kernel}/pool={pool}/alpha={alpha}/k={k}/dedup={dedup}',
                              'kernel': kernel, 'poolBandwidthOverBatch': pool, 'alpha': alpha, 'k': k,
                              'dedup': dedup, 'densities': [_f(r) for r in D.astype(np.float32)],
                              'densities_f64': [r.tolist() for r in D], 'bandwidth': [r.tolist() for r in bw],
                              'rows': rows})
    return {'name': name, 'ids': ids.tolist(), 'features': [_f(r) for r in feats],
            'shape': list(feats.shape), 'cases': cases}


def main(argv=None):
    torch.set_num_threads(2)
    p = argparse.ArgumentParser(prog='var_tools.fixtures', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--run', required=True)
    p.add_argument('--model', required=True, help='the exported model folder of this run')
    p.add_argument('--classifier', required=True)
    p.add_argument('--data', default=fdata.DEFAULT_DIR)
    p.add_argument('--out', required=True)
    args = p.parse_args(argv)
    from .classifier import load_classifier
    from .export import load_trained
    vae, var, _ = load_trained(args.run)
    clf = load_classifier(args.classifier).eval()
    images, labels = fdata.load('test', args.data)
    os.makedirs(args.out, exist_ok=True)
    idx = int(np.nonzero(labels == 3)[0][0])
    with open(os.path.join(args.out, 'teacher_forced.json'), 'w') as f:
        json.dump(teacher_forced(vae, var, args.model, images[idx], 3), f)
    pick = [int(np.nonzero(labels == c)[0][0]) for c in (0, 5, 8, 9)]
    with open(os.path.join(args.out, 'classifier.json'), 'w') as f:
        json.dump(classifier_cases(clf, images[pick], labels[pick]), f)
    codebook = np.fromfile(os.path.join(args.model, 'codebook.f32'), dtype='<f4').reshape(var.V, var.Cvae)
    rng = np.random.default_rng(1234)
    sets = [selection_cases(*candidate_sets(vae, var, codebook), rng, 'model-scale1'),
            selection_cases(*synthetic_sets(codebook, rng), rng, 'synthetic')]
    with open(os.path.join(args.out, 'selection.json'), 'w') as f:
        json.dump({'about': 'VAR-Scaling selection reference (DESIGN section 4), NumPy float64',
                   'sets': sets}, f)
    for name in ('teacher_forced.json', 'classifier.json', 'selection.json'):
        print(f'{name}: {os.path.getsize(os.path.join(args.out, name)) / 1e3:.0f} kB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
