"""The PyTorch side of `npm run bench`'s d16 section (bench/d16.bench.ts), on random official-shape weights.

    # once: random vae_ch160v4096z32.pth + var_d16.pth and their var-onnx/1 exports, fp32 and int8
    # (about 3.6 GB, 3-4 min)
    /usr/bin/python3 -m var_tools.bench_d16 prepare --dir runs/bench-d16
    # time var_tools.sample.generate on the same weights, B=1 with guidance; prints one JSON line
    TORCH_THREADS=2 /usr/bin/python3 -m var_tools.bench_d16 torch --dir runs/bench-d16 --reps 2

`prepare` reuses what is there: the checkpoints and the folder are made only when missing, so the
engine and PyTorch always run the very same weights. The folder lies under models/runs/ (gitignored).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

DEPTH = 16
VAE_FILE = 'vae_ch160v4096z32.pth'
VAR_FILE = f'var_d{DEPTH}.pth'
MODEL = f'var-d{DEPTH}'


def paths(work):
    return (os.path.join(work, VAE_FILE), os.path.join(work, VAR_FILE), os.path.join(work, MODEL))


def prepare(work):
    from .export import main as export_main
    from .verify_official import make_random_checkpoints
    vae_path, var_path, model = paths(work)
    os.makedirs(work, exist_ok=True)
    t0 = time.time()
    made = []
    if not (os.path.exists(vae_path) and os.path.exists(var_path)):
        # written to the final names only after both saves finished: a killed run leaves no half pair
        tmp = os.path.join(work, '.checkpoints')
        os.makedirs(tmp, exist_ok=True)
        v1, v2 = make_random_checkpoints(tmp, DEPTH)
        os.replace(v1, vae_path)
        os.replace(v2, var_path)
        os.rmdir(tmp)
        made.append('checkpoints')
    t1 = time.time()
    # float32, and the same weights with the transformer's linear layers in int8
    for out, weights in ((model, 'fp32'), (model + '-int8', 'int8')):
        if not os.path.exists(os.path.join(out, 'manifest.json')):
            # the fp32 folder gets the cheap preview map, fitted on its own decodes (the bench's previews)
            preview = ['--preview-images', '4'] if weights == 'fp32' else ['--no-preview']
            rc = export_main(['official', '--vae', vae_path, '--var', var_path, '--out', out, '--weights', weights,
                              *preview])
            if rc != 0:
                return rc
            made.append(f'export {weights}')
    if not os.path.exists(os.path.join(model, 'preview.json')):  # a folder from before the preview maps
        from .export import add_preview
        if add_preview(model, 'official', 4):
            made.append('preview map')
    t2 = time.time()
    print(json.dumps({'model_dir': os.path.abspath(model), 'made': made,
                      'seconds': {'checkpoints': round(t1 - t0, 1), 'export': round(t2 - t1, 1)}}))
    return 0


def time_torch(work, reps, warmup, label):
    from .export import load_official
    from .sample import generate
    vae_path, var_path, model = paths(work)
    with open(os.path.join(model, 'manifest.json')) as f:
        man = json.load(f)
    d = man['sampling_defaults']
    vae, var, _depth = load_official(vae_path, var_path)
    step_ms = [0.0]
    step = var.step

    def timed_step(*args):
        t = time.perf_counter()
        try:
            return step(*args)
        finally:
            step_ms[0] += (time.perf_counter() - t) * 1000

    var.step = timed_step  # the transformer share, to compare with the engine's var_step time
    runs, steps = [], []
    labels = torch.tensor([label])
    for i in range(warmup + reps):
        step_ms[0] = 0.0
        t0 = time.perf_counter()
        generate(vae, var, labels, d['cfg'], d['top_k'], d['top_p'], seed=i)
        ms = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            runs.append(ms)
            steps.append(step_ms[0])
    print(json.dumps({
        'torch': torch.__version__, 'threads': torch.get_num_threads(), 'batch': 1,
        'cfg': d['cfg'], 'top_k': d['top_k'], 'top_p': d['top_p'],
        'runs_ms': [round(r, 1) for r in runs], 'median_ms': round(statistics.median(runs), 1),
        'var_step_median_ms': round(statistics.median(steps), 1),
        # Linux reports ru_maxrss in KiB
        'max_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


def main(argv=None):
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    p = argparse.ArgumentParser(prog='var_tools.bench_d16', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('prepare')
    a.add_argument('--dir', required=True)
    a = sub.add_parser('torch')
    a.add_argument('--dir', required=True)
    a.add_argument('--reps', type=int, default=2)
    a.add_argument('--warmup', type=int, default=1)
    a.add_argument('--label', type=int, default=207)
    args = p.parse_args(argv)
    if args.cmd == 'prepare':
        return prepare(args.dir)
    return time_torch(args.dir, args.reps, args.warmup, args.label)


if __name__ == '__main__':
    sys.exit(main())
