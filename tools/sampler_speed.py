"""How fast digits are drawn: MXNet from a checkpoint beside onnxruntime from its ONNX export,
and how long the export takes (README, "Taking the generator elsewhere").

    python tools/sampler_speed.py runs/RUN                # 100 digits, 5 rounds
    python tools/sampler_speed.py runs/RUN --num 1000 --repeat 3

The checkpoint is exported once (timed, as `python sample.py RUN --export` in a process of its
own). Then, for each round, each sampler runs in a fresh process of its own, one after the
other (two runtimes in one process fight over the cores): it loads the generator, draws once to
warm up, then draws `--num` digits three times; the round records the median draw, and the
table gives the median over rounds with the range. Beside it, the wall time of the whole
`python sample.py SOURCE --num N` command, imports included, as a user meets it.
"""
import on_path  # first: the repository on sys.path, for dcgan/

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = on_path.REPOSITORY
SAMPLE = os.path.join(REPO, 'sample.py')
DRAWS = 3


def measure(kind, source, num):
    """In this process: the seconds to load `source` with sampler `kind`, and the median of
    DRAWS draws of `num` digits after one to warm up."""
    started = time.perf_counter()
    if kind == 'mxnet':
        from dcgan.framework import mx
        from dcgan import run_state
        from dcgan.sampling import sampler_from_checkpoint
        found, state = run_state.open_checkpoint(source, str)
        sampler = sampler_from_checkpoint(found, state, mx.cpu())
    else:
        from dcgan.onnx_model import OnnxGenerator
        sampler = OnnxGenerator(source)
    loaded = time.perf_counter() - started
    sampler.sample(num, 0)
    times = []
    for seed in range(1, DRAWS + 1):
        started = time.perf_counter()
        sampler.sample(num, seed)
        times.append(time.perf_counter() - started)
    return {'load_s': loaded, 'draw_s': statistics.median(times)}


def timed(command):
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def spread(values):
    return '%.2f s (%.2f-%.2f)' % (statistics.median(values), min(values), max(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run', help='a run or checkpoint folder')
    parser.add_argument('--num', type=int, default=100)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--contender', choices=('mxnet', 'onnx'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(measure(args.contender, args.run, args.num)))
        return
    with tempfile.TemporaryDirectory() as folder:
        model = os.path.join(folder, 'generator.onnx')
        export_s = timed([sys.executable, SAMPLE, args.run, '--export', model])
        sources = {'mxnet': args.run, 'onnx': model}
        rounds = {kind: [] for kind in sources}
        commands = {kind: [] for kind in sources}
        for _ in range(args.repeat):
            for kind, source in sources.items():
                done = subprocess.run([sys.executable, __file__, source, '--num', str(args.num),
                                       '--contender', kind], check=True, capture_output=True,
                                      text=True)
                rounds[kind].append(json.loads(done.stdout))
                commands[kind].append(timed([sys.executable, SAMPLE, source, '--num',
                                             str(args.num), '--out',
                                             os.path.join(folder, kind + '.png'),
                                             '--overwrite']))
    print('export (python sample.py RUN --export): %.1f s' % export_s)
    print('%d digits, %d rounds, threads: %s; median (range)'
          % (args.num, args.repeat, 'OMP_NUM_THREADS=' + os.environ['OMP_NUM_THREADS']
             if 'OMP_NUM_THREADS' in os.environ else 'one per usable CPU (both defaults)'))
    for kind in sources:
        print('  %-6s load %s  draw %s  whole sample.py command %s' % (
            kind, spread([r['load_s'] for r in rounds[kind]]),
            spread([r['draw_s'] for r in rounds[kind]]), spread(commands[kind])))


if __name__ == '__main__':
    main()
