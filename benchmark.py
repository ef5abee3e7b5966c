"""How fast, and in how much memory: the project's training step beside the tutorial's and a
PyTorch peer, data preparation, start-up memory, and the share of the machine's peak.

    python benchmark.py                     # prints a table, writes benchmark.json
    python benchmark.py --iters 10 --json bench.json

Every timing is the median of `--iters` iterations after `--warmup` ones, at batch 64 on the
full networks, with whatever threads the program itself would use. PyTorch is optional
(`pip install torch==2.13.0` installs its CPU build); without it its rows are left out.
"""
# First of all: refuses a Python MXNet cannot run (in one line), sets the thread defaults
# before numpy and MXNet load, and gives numpy back the aliases MXNet uses.
import mxnet_setup

import argparse
import ast
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import mxnet as mx

import dcgan_mnist as app
import symbols

REPO = os.path.dirname(os.path.abspath(__file__))
MATMUL_SIZE = 4096


# ============================== the tutorial's step, unmodified ==============================

def tutorial_step(generator, discriminator, batch, rbatch, batch_size, ctx):
    """The body of the tutorial's training loop, as it is written there (less its printing)."""
    generator.forward(rbatch, is_train=True)
    outG = generator.get_outputs()
    label = mx.nd.zeros((batch_size,), ctx=ctx)
    discriminator.forward(mx.io.DataBatch(outG, [label]), is_train=True)
    discriminator.backward()
    gradD = [[grad.copyto(grad.context) for grad in grads]
             for grads in discriminator._exec_group.grad_arrays]
    label[:] = 1
    batch.label = [label]
    discriminator.forward(batch, is_train=True)
    discriminator.backward()
    for gradsr, gradsf in zip(discriminator._exec_group.grad_arrays, gradD):
        for gradr, gradf in zip(gradsr, gradsf):
            gradr += gradf
    discriminator.update()
    discriminator.forward(mx.io.DataBatch(outG, [label]), is_train=True)
    discriminator.backward()
    diffD = discriminator.get_input_grads()
    generator.backward(diffD)
    generator.update()


# ============================== counting ==============================

def forward_macs(symbol, **shapes):
    """Multiply-adds of one forward pass through the (de)convolutions of `symbol`."""
    internals = symbol.get_internals()
    _, output_shapes, _ = internals.infer_shape(**shapes)
    shape_of = dict(zip(internals.list_outputs(), output_shapes))
    nodes = json.loads(symbol.tojson())['nodes']

    def output_shape(node):
        return shape_of[node['name'] if node['op'] == 'null' else node['name'] + '_output']

    total = 0
    for node in nodes:
        if node['op'] not in ('Convolution', 'Deconvolution'):
            continue
        kernel = np.prod(ast.literal_eval(node['attrs']['kernel']))  # such as '(4, 4)'
        inputs, outputs = output_shape(nodes[node['inputs'][0][0]]), output_shape(node)
        if node['op'] == 'Convolution':  # every output element: C_in * k * k products
            total += np.prod(outputs) * inputs[1] * kernel
        else:                            # every input element: C_out * k * k products
            total += np.prod(inputs) * outputs[1] * kernel
    return int(total)


def iteration_gflop(batch_size, noise_dim=symbols.NOISE_DIM):
    """FLOPs of the tutorial's iteration: G forward and backward (3 passes), D forward and
    backward three times (9 passes), two FLOPs a multiply-add."""
    g = forward_macs(symbols.generator_symbol(), rand=(batch_size, noise_dim, 1, 1))
    d = forward_macs(symbols.discriminator_symbol(), data=(batch_size, 3, 64, 64),
                     label=(batch_size,))
    return 2 * (3 * g + 9 * d) / 1e9


# ============================== measurements ==============================

def median_seconds(step, iters, warmup, sync=mx.nd.waitall):
    """The median wall time of `step` (followed by `sync`) over `iters` after `warmup`."""
    for _ in range(warmup):
        step()
        sync()
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def mxnet_steps(batch_size, iters, warmup):
    """Seconds per iteration: (the project's step, the tutorial's step)."""
    ctx = mx.gpu(0) if mxnet_setup.gpu_count(mx) else mx.cpu()
    rng = np.random.RandomState(0)
    real = mx.nd.array(rng.uniform(-1, 1, (batch_size, 3, 64, 64)), ctx=ctx)
    noise = mx.nd.array(rng.standard_normal((batch_size, 100, 1, 1)), ctx=ctx)
    results = {}
    for name in ('project', 'tutorial'):
        mx.random.seed(0)
        generator = app.build_generator(ctx, batch_size, 100, 2e-4, 0.5, 0.02)
        discriminator = app.build_discriminator(ctx, batch_size, 2e-4, 0.5, 0.02)
        if name == 'project':
            judge = app.build_judge(discriminator)

            def step():
                app.train_step(generator, discriminator, real, noise, judge)
        else:
            def step():
                tutorial_step(generator, discriminator, mx.io.DataBatch([real], []),
                              mx.io.DataBatch([noise], []), batch_size, ctx)
        results[name] = median_seconds(step, iters, warmup)
    return results, str(ctx)


def torch_step_seconds(batch_size, iters, warmup):
    """The same networks and passes in PyTorch eager on the CPU, or None without torch."""
    try:
        import torch
    except ImportError:
        return None, None
    from torch import nn
    torch.manual_seed(0)
    torch.set_num_threads(mxnet_setup.usable_cpu_count())
    eps = symbols.BN_EPS

    def up(cin, cout, stride, pad):
        return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False),
                nn.BatchNorm2d(cout, eps=eps), nn.ReLU()]

    def down(cin, cout, norm):
        return [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)] + \
            ([nn.BatchNorm2d(cout, eps=eps)] if norm else []) + [nn.LeakyReLU(0.2)]

    generator = nn.Sequential(*up(100, 1024, 1, 0), *up(1024, 512, 2, 1), *up(512, 256, 2, 1),
                              *up(256, 128, 2, 1), nn.ConvTranspose2d(128, 3, 4, 2, 1, bias=False),
                              nn.Tanh())
    discriminator = nn.Sequential(*down(3, 128, False), *down(128, 256, True),
                                  *down(256, 512, True), *down(512, 1024, True),
                                  nn.Conv2d(1024, 1, 4, 1, 0, bias=False), nn.Flatten())
    loss = nn.BCEWithLogitsLoss(reduction='mean')
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch_size, 3, 64, 64) * 2 - 1
    noise = torch.randn(batch_size, 100, 1, 1)
    ones, zeros = torch.ones(batch_size, 1), torch.zeros(batch_size, 1)

    def step():  # the tutorial's passes: D's weight gradients in the G step are computed too
        fake = generator(noise)
        opt_d.zero_grad()
        loss(discriminator(fake.detach()), zeros).backward()
        loss(discriminator(real), ones).backward()
        opt_d.step()
        opt_g.zero_grad()
        loss(discriminator(fake), ones).backward()
        opt_g.step()

    return median_seconds(step, iters, warmup, sync=lambda: None), torch.__version__


def matmul_peak_gflops():
    """(GFLOP/s, which library) of the fastest float32 matrix product at hand."""
    a = np.random.RandomState(0).standard_normal((MATMUL_SIZE, MATMUL_SIZE)).astype(np.float32)
    flop = 2 * MATMUL_SIZE ** 3
    candidates = []
    try:
        import torch
        ta = torch.from_numpy(a)
        candidates.append(('torch.matmul', lambda: torch.matmul(ta, ta)))
    except ImportError:
        pass
    candidates.append(('numpy.matmul', lambda: a @ a))
    na = mx.nd.array(a)
    candidates.append(('mxnet nd.dot', lambda: mx.nd.dot(na, na).wait_to_read()))
    # MXNet's FullyConnected is a matrix product run by oneDNN, the library that also runs the
    # convolutions; nd.dot goes through MXNet's bundled OpenBLAS instead.
    candidates.append(('mxnet FullyConnected (oneDNN)', lambda: mx.nd.FullyConnected(
        na, na, no_bias=True, num_hidden=MATMUL_SIZE).wait_to_read()))
    results = {}
    for name, product in candidates:
        product()
        best = min(_timed(product) for _ in range(3))
        results[name] = flop / best / 1e9
    best = max(results, key=results.get)
    return results[best], best, results


def _timed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def startup(data_dir):
    """(data preparation seconds, peak resident MB) of a real start-up: the program itself,
    loading MNIST, binding both networks and running two iterations."""
    with tempfile.TemporaryDirectory() as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--max-iters', '2',
             '--no-show', '--seed', '0', '--output-dir', os.path.join(out, 'run'),
             '--checkpoint-every', '1000', '--vis-every', '1000', '--data-dir', data_dir],
            capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    seconds = float(re.search(r'ready in ([\d.]+) s', result.stdout).group(1))
    return seconds, max(peak, before) / 1024


# ============================== the table ==============================

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=app.BATCH_SIZE)
    parser.add_argument('--json', default='benchmark.json')
    parser.add_argument('--data-dir', default=None)
    args = parser.parse_args(argv)
    import mnist
    data_dir = args.data_dir or mnist.default_data_dir()

    # First, while this process is still small: Linux carries a parent's peak memory into the
    # peak it reports for a child it starts.
    prep_seconds, peak_mb = startup(data_dir)
    gflop = iteration_gflop(args.batch_size)
    peak, peak_source, peaks = matmul_peak_gflops()
    steps, ctx = mxnet_steps(args.batch_size, args.iters, args.warmup)
    torch_seconds, torch_version = torch_step_seconds(args.batch_size, args.iters, args.warmup)

    rows = []

    def add(name, seconds):
        achieved = gflop / seconds
        rows.append({'what': name, 'seconds_per_iter': seconds,
                     'images_per_second': args.batch_size / seconds,
                     'gflop_per_second': achieved, 'share_of_peak': achieved / peak,
                     'vs_torch': seconds / torch_seconds if torch_seconds else None})

    add('project step (MXNet, %s)' % ctx, steps['project'])
    add('tutorial step (MXNet, %s)' % ctx, steps['tutorial'])
    if torch_seconds:
        add('PyTorch %s eager, CPU' % torch_version, torch_seconds)
    report = {'batch_size': args.batch_size, 'iteration_gflop': gflop,
              'matmul_peak_gflops': peak, 'matmul_peak_source': peak_source,
              'matmul_gflops': peaks, 'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
              'steps': rows, 'data_prep_seconds': prep_seconds, 'startup_peak_rss_mb': peak_mb,
              'mxnet_version': mx.__version__}

    print('batch %d; one iteration = %.0f GFLOP; peak %.0f GFLOP/s (%s, %dx%d float32); '
          'OMP_NUM_THREADS=%s' % (args.batch_size, gflop, peak, peak_source, MATMUL_SIZE,
                                  MATMUL_SIZE, report['omp_num_threads']))
    print('%-34s %10s %8s %9s %8s %9s' % ('', 's/iter', 'img/s', 'GFLOP/s', 'of peak',
                                           'vs torch'))
    for row in rows:
        print('%-34s %10.3f %8.1f %9.1f %7.0f%% %9s'
              % (row['what'], row['seconds_per_iter'], row['images_per_second'],
                 row['gflop_per_second'], 100 * row['share_of_peak'],
                 '%.2fx' % row['vs_torch'] if row['vs_torch'] else '-'))
    print('data preparation %.1f s; start-up peak resident memory %.0f MB'
          % (prep_seconds, peak_mb))
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print('wrote %s' % args.json)


if __name__ == '__main__':
    main()
