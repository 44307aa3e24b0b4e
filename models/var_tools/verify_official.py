"""Checks the official-checkpoint path end to end on random weights of the official shapes.

    /usr/bin/python3 -m var_tools.verify_official --depth 16 --work /tmp/official-d16 [--weights fp16]

Writes random `vae_ch160v4096z32.pth` and `var_d{depth}.pth` (the official architecture and key names;
VAR weights from `parity.exercise_every_block`, so attention, MLP, AdaLN and the temperature cap all
move the logits), exports them with `var_tools.export official` (strict load), then compares
teacher-forced logits, f_hat and the decoded image between PyTorch and onnxruntime-node. Prints one
JSON line, with `blocks_off_logits` (how far the logits move with every block switched off) and
`sensitivity` (how far a 1 % error in the last block's attention or MLP, or an ignored temperature
cap, on the PyTorch side moves the comparison).
"""
import argparse
import json
import os
import sys
import time

import torch

from .export import WEIGHT_CHOICES, load_official, main as export_main
from .parity import exercise_every_block, random_ids, teacher_forced_parity
from .var_model import VAR, official_var_config
from .vqvae import VQVAE, official_vae_config


def make_random_checkpoints(work, depth, seed=0):
    """Writes random official-shape checkpoints into `work`; returns their paths. The models are
    dropped on return, so whoever exports next holds the only copy of the weights (d30 is 8 GB)."""
    torch.manual_seed(seed)
    vae = VQVAE(**official_vae_config()).eval()
    with torch.no_grad():
        vae.quantize.embedding.weight.normal_(0, 0.5)
    var = exercise_every_block(VAR(**official_var_config(depth)).eval(), seed)
    vae_path = os.path.join(work, 'vae_ch160v4096z32.pth')
    var_path = os.path.join(work, f'var_d{depth}.pth')
    torch.save(vae.state_dict(), vae_path)
    torch.save(var.state_dict(), var_path)
    return vae_path, var_path


def main(argv=None):
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    p = argparse.ArgumentParser(prog='var_tools.verify_official', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depth', type=int, default=16)
    p.add_argument('--work', required=True)
    p.add_argument('--weights', choices=WEIGHT_CHOICES, default='fp32')
    p.add_argument('--external-data-threshold', type=int, metavar='BYTES',
                   help='passed to the exporter (0 forces external data)')
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    vae_path, var_path = make_random_checkpoints(args.work, args.depth)
    out = os.path.join(args.work, f'var-d{args.depth}')
    t1 = time.time()
    extra = ['--weights', args.weights]
    if args.external_data_threshold is not None:
        extra += ['--external-data-threshold', str(args.external_data_threshold)]
    rc = export_main(['official', '--vae', vae_path, '--var', var_path, '--out', out, '--force', *extra])
    if rc != 0:
        return rc
    t2 = time.time()
    vae, var, _ = load_official(vae_path, var_path)  # the PyTorch side, from the files just exported
    ids = random_ids(vae, var.patch_nums, 1, seed=3)
    d = teacher_forced_parity(vae, var, out, ids, torch.tensor([207]))
    t3 = time.time()
    sizes = {n: os.path.getsize(os.path.join(out, n)) for n in os.listdir(out)}
    print(json.dumps({'depth': args.depth, 'max_abs_logits': max(d['logits']), 'max_abs_f_hat': max(d['f_hat']),
                      'max_abs_next_tok': max(d['next_tok']), 'max_abs_image': d['image'],
                      'weights': args.weights, 'logits_absmax': d['logits_absmax'], 'logits_std': d['logits_std'],
                      'top1_agreement': d['top1_agreement'], 'blocks_off_logits': d['blocks_off_logits'],
                      'sensitivity': d['sensitivity'],
                      'bytes': sizes, 'seconds': {'checkpoints': round(t1 - t0, 1), 'export': round(t2 - t1, 1),
                                                  'parity': round(t3 - t2, 1)}}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
