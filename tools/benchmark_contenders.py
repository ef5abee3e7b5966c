"""The benchmark's contenders and analyses (tools/benchmark.py runs each in a process of its
own): the tutorial's step as written, the counting of an iteration's FLOPs, each measurement,
and the tables that name them. Imported in a contender's process after benchmark.py has set
its threads (before numpy and MXNet load)."""
import argparse
import ast
import collections
import contextlib
import functools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import on_path  # noqa: F401  (the repository on sys.path)

import numpy as np

REPO = on_path.REPOSITORY
MATMUL_SIZE = 4096


# ============================== the tutorial's step, unmodified ==============================

def tutorial_step(generator, discriminator, batch, rbatch, batch_size, ctx):
    """The body of the tutorial's training loop, as it is written there (less its printing)."""
    from dcgan.framework import mx
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


def forward_gflop(batch_size, noise_dim=100):
    """GFLOP of one forward pass through G and through D (two FLOPs a multiply-add)."""
    import symbols
    g = forward_macs(symbols.generator_symbol(), rand=(batch_size, noise_dim, 1, 1))
    d = forward_macs(symbols.discriminator_symbol(), data=(batch_size, 3, 64, 64),
                     label=(batch_size,))
    return 2 * g / 1e9, 2 * d / 1e9


def iteration_gflop(batch_size, noise_dim=100):
    """GFLOP of the tutorial's iteration: G forward and backward (3 passes), D forward and
    backward three times (9 passes)."""
    g, d = forward_gflop(batch_size, noise_dim)
    return 3 * g + 9 * d


# ============================== measurements (each in a contender's process) ==============

def timed_iterations(step, iters, warmup, sync):
    """The wall time of each of `iters` calls of `step` (each followed by `sync`), after
    `warmup` untimed ones."""
    for _ in range(warmup):
        step()
        sync()
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - started)
    return times


def peak_rss_mb(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024


def mxnet_context():
    from dcgan import devices
    from dcgan.framework import mx
    return mx.gpu(0) if devices.gpu_count(mx) else mx.cpu()


def mxnet_networks(ctx, batch_size, dtype='float32'):
    """The program's generator, discriminator and judge, as it builds them."""
    from dcgan.framework import mx
    import dcgan_mnist as app
    mx.random.seed(0)
    generator = app.build_generator(ctx, batch_size, 100, app.LEARNING_RATE, app.BETA1,
                                    app.INIT_SIGMA, dtype=dtype)
    discriminator = app.build_discriminator(ctx, batch_size, app.LEARNING_RATE, app.BETA1,
                                            app.INIT_SIGMA, dtype=dtype)
    return generator, discriminator, app.build_judge(discriminator)


def random_batches(ctx, batch_size):
    from dcgan.framework import mx
    rng = np.random.RandomState(0)
    return (mx.nd.array(rng.uniform(-1, 1, (batch_size, 3, 64, 64)), ctx=ctx),
            mx.nd.array(rng.standard_normal((batch_size, 100, 1, 1)), ctx=ctx))


def measure_program(args, dtype='float32'):
    """The program's step (dcgan_mnist.train_step, its judge included), with --dtype `dtype`."""
    from dcgan.framework import mx
    import dcgan_mnist as app
    ctx = mxnet_context()
    generator, discriminator, judge = mxnet_networks(ctx, args.batch_size, dtype)
    real, noise = random_batches(ctx, args.batch_size)
    times = timed_iterations(lambda: app.train_step(generator, discriminator, real, noise,
                                                    judge), args.iters, args.warmup,
                             mx.nd.waitall)
    return {'times': times, 'device': str(ctx), 'version': 'MXNet ' + mx.__version__,
            'iteration_gflop': iteration_gflop(args.batch_size)}


def measure_tutorial_step(args):
    """The tutorial's loop body as written, on the program's networks and threads."""
    from dcgan.framework import mx
    ctx = mxnet_context()
    generator, discriminator, _ = mxnet_networks(ctx, args.batch_size)
    real, noise = random_batches(ctx, args.batch_size)
    times = timed_iterations(lambda: tutorial_step(
        generator, discriminator, mx.io.DataBatch([real], []), mx.io.DataBatch([noise], []),
        args.batch_size, ctx), args.iters, args.warmup, mx.nd.waitall)
    return {'times': times, 'device': str(ctx), 'version': 'MXNet ' + mx.__version__}


def tutorial_preparation(images, batch_size):
    """The tutorial's data preparation, step for step: every image into one float64 array,
    shuffled with seed 1, resized to 64x64, scaled to [-1, 1], tiled to three channels, into
    an NDArrayIter (the whole data set in memory several times over on the way)."""
    import cv2
    from dcgan.framework import mx
    x = np.zeros(images.shape)
    x[:] = images
    np.random.seed(1)
    x = x[np.random.permutation(x.shape[0])]
    x = np.asarray([cv2.resize(image, (64, 64)) for image in x])
    x = x.astype(np.float32, copy=False) / (255.0 / 2) - 1.0
    x = np.tile(x.reshape((len(x), 1, 64, 64)), (1, 3, 1, 1))
    return mx.io.NDArrayIter(x, batch_size=batch_size)


def measure_tutorial_as_shipped(args):
    """What a user of the tutorial has: MXNet's threads, the tutorial's preparation and loop."""
    from dcgan.framework import mx
    from dcgan import mnist
    from rand_iter import RandIter
    ctx = mxnet_context()
    images, _ = mnist.load_mnist(args.data_dir)
    started = time.perf_counter()
    image_iter = tutorial_preparation(images, args.batch_size)
    prep_seconds = time.perf_counter() - started
    generator, discriminator, _ = mxnet_networks(ctx, args.batch_size)
    rand_iter = RandIter(args.batch_size, 100, ctx=ctx)

    def step():
        tutorial_step(generator, discriminator, image_iter.next(), rand_iter.next(),
                      args.batch_size, ctx)
    times = timed_iterations(step, args.iters, args.warmup, mx.nd.waitall)
    return {'times': times, 'device': str(ctx), 'version': 'MXNet ' + mx.__version__,
            'prep_seconds': prep_seconds, 'peak_rss_mb': peak_rss_mb()}


def measure_pytorch(args, autocast=False):
    """The same networks and passes in PyTorch eager on the CPU (None without torch); with
    `autocast`, under torch.autocast('cpu', dtype=torch.bfloat16), as a PyTorch user on a CPU
    with bfloat16 would train (convolutions in bfloat16, the loss and the weights float32)."""
    try:
        import torch
    except ImportError:
        return None
    from torch import nn
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
    eps = 1e-5 + 1e-12  # symbols.BN_EPS, without importing MXNet here

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
    real = torch.rand(args.batch_size, 3, 64, 64) * 2 - 1
    noise = torch.randn(args.batch_size, 100, 1, 1)
    ones, zeros = torch.ones(args.batch_size, 1), torch.zeros(args.batch_size, 1)

    precision = (torch.autocast('cpu', dtype=torch.bfloat16) if autocast
                 else contextlib.nullcontext())

    def step():  # the tutorial's passes: D's weight gradients in the G step are computed too
        with precision:
            fake = generator(noise)
        opt_d.zero_grad()
        with precision:
            fake_loss = loss(discriminator(fake.detach()), zeros)
        fake_loss.backward()
        with precision:
            real_loss = loss(discriminator(real), ones)
        real_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        with precision:
            generator_loss = loss(discriminator(fake), ones)
        generator_loss.backward()
        opt_g.step()

    times = timed_iterations(step, args.iters, args.warmup, sync=lambda: None)
    return {'times': times, 'device': 'cpu', 'version': 'PyTorch ' + torch.__version__,
            'threads': 'torch.set_num_threads(%d)' % torch.get_num_threads()}


def matmul_operands():
    return np.random.RandomState(0).standard_normal((MATMUL_SIZE, MATMUL_SIZE)).astype(
        np.float32)


def matmul_numpy():
    a = matmul_operands()
    return lambda: a @ a, 'numpy ' + np.__version__


def matmul_mxnet_dot():
    from dcgan.framework import mx
    a = mx.nd.array(matmul_operands())
    return lambda: mx.nd.dot(a, a).wait_to_read(), 'MXNet nd.dot (its OpenBLAS)'


def matmul_mxnet_onednn():
    # FullyConnected is a matrix product run by oneDNN, the library that runs the convolutions.
    from dcgan.framework import mx
    a = mx.nd.array(matmul_operands())
    return (lambda: mx.nd.FullyConnected(a, a, no_bias=True, num_hidden=MATMUL_SIZE)
            .wait_to_read()), 'MXNet FullyConnected (oneDNN)'


def matmul_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))
    a = torch.from_numpy(matmul_operands())
    return lambda: torch.matmul(a, a), 'PyTorch %s torch.matmul' % torch.__version__


def measure_matmul(make):
    def measure(args):
        made = make()
        if made is None:
            return None
        product, what = made
        times = timed_iterations(product, 5, 1, sync=lambda: None)
        return {'gflops': 2 * MATMUL_SIZE ** 3 / min(times) / 1e9, 'version': what}
    return measure


def measure_startup(args):
    """The program's own start-up: MNIST loaded, both networks bound, two iterations."""
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--max-iters', '2',
             '--no-show', '--seed', '0', '--output-dir', os.path.join(out, 'run'),
             '--checkpoint-every', '1000', '--vis-every', '1000', '--data-dir', args.data_dir],
            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip())
    return {'prep_seconds': float(re.search(r'ready in ([\d.]+) s', result.stdout).group(1)),
            'peak_rss_mb': peak_rss_mb(resource.RUSAGE_CHILDREN)}


# ============================== where the time and the memory go ==============================

def resident_mb():
    """This process's resident memory now (VmRSS), in MB."""
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS:')) / 1024


def measure_memory(args):
    """Resident memory stage by stage along the program's own start-up (MNIST, the three
    Modules, two iterations), and what the parameters alone account for."""
    stages = [('Python and numpy', resident_mb())]

    def stage(what):
        mx.nd.waitall()
        stages.append((what, resident_mb()))

    from dcgan.framework import mx
    stage('MXNet loaded')
    import dcgan_mnist as app
    from dcgan import run_setup
    stage('the program\'s modules loaded (OpenCV, matplotlib)')
    ctx = mxnet_context()
    image_iter, _, _ = run_setup.load_image_iter(argparse.Namespace(
        data=None, data_dir=args.data_dir, no_download=True, batch_size=args.batch_size))
    stage('MNIST loaded (uint8)')
    generator, discriminator, judge = mxnet_networks(ctx, args.batch_size)
    stage('G, D and the judge bound and initialised')
    _, noise = random_batches(ctx, args.batch_size)
    for count in (1, 2):
        app.train_step(generator, discriminator, image_iter.next().data[0].as_in_context(ctx),
                        noise, judge)
        stage('iteration %d' % count)
    parameters = {name: sum(array.size for array in module.get_params()[0].values())
                  for name, module in (('generator', generator), ('discriminator', discriminator))}
    return {'stages': stages, 'parameters': parameters}


def pass_of(operator):
    """Which pass of an iteration an operator (or a fused group of them, as MXNet's profiler
    names it: '[Convolution,BatchNorm,...]') belongs to."""
    network = ('G' if 'Deconvolution' in operator else
               'D' if 'Convolution' in operator else None)
    if network:
        return '%s %s' % (network, 'backward' if '_backward' in operator else 'forward')
    return {'adam_update': 'Adam updates', 'CopyCPU2CPU': 'copies',
            'broadcast_add': 'adding the kept gradients'}.get(operator, 'other operators')


def measure_passes(args):
    """MXNet's profiler over `iters` program steps: milliseconds per iteration in each pass,
    and the FLOPs each pass computes (D's input gradient in G's step skips D's weights)."""
    from dcgan.framework import mx
    import dcgan_mnist as app
    ctx = mxnet_context()
    generator, discriminator, judge = mxnet_networks(ctx, args.batch_size)
    real, noise = random_batches(ctx, args.batch_size)

    def step():
        app.train_step(generator, discriminator, real, noise, judge)
    timed_iterations(step, 0, args.warmup, mx.nd.waitall)
    with tempfile.TemporaryDirectory() as folder:
        mx.profiler.set_config(profile_all=True, aggregate_stats=True,
                               filename=os.path.join(folder, 'profile.json'))
        mx.profiler.set_state('run')
        times = timed_iterations(step, args.iters, 0, mx.nd.waitall)
        mx.profiler.set_state('stop')
        operators = json.loads(mx.profiler.dumps(format='json'))['Time']['operator']
    ms = collections.defaultdict(float)
    for operator, stats in operators.items():
        ms[pass_of(operator)] += stats['Total'] / args.iters
    g, d = forward_gflop(args.batch_size)
    gflop = {'G forward': g, 'G backward': 2 * g, 'D forward': 3 * d, 'D backward': 5 * d}
    return {'wall_ms': 1000 * statistics.median(times),
            'passes': [{'pass': name, 'ms': ms[name], 'gflop': gflop.get(name)}
                       for name in sorted(ms, key=lambda name: -ms[name])]}


# (name, what the table calls it, how its threads are set, the measurement)
PROGRAM_THREADS = 'program'   # OMP_NUM_THREADS = usable CPUs, as the program sets it
CONTENDERS = [
    ('program', 'the program\'s step', PROGRAM_THREADS, measure_program),
    ('tutorial-step', 'the tutorial\'s step', PROGRAM_THREADS, measure_tutorial_step),
    ('tutorial-as-shipped', 'the tutorial as shipped', 'mxnet', measure_tutorial_as_shipped),
    ('pytorch', 'PyTorch eager', PROGRAM_THREADS, measure_pytorch),
    ('program-bfloat16', 'the program\'s step, --dtype bfloat16', PROGRAM_THREADS,
     functools.partial(measure_program, dtype='bfloat16')),
    ('pytorch-bfloat16', 'PyTorch eager, bfloat16 autocast', PROGRAM_THREADS,
     functools.partial(measure_pytorch, autocast=True)),
    ('startup', 'the program\'s start-up', PROGRAM_THREADS, measure_startup),
]
PEAKS = [
    ('matmul-numpy', PROGRAM_THREADS, measure_matmul(matmul_numpy)),
    ('matmul-mxnet-dot', PROGRAM_THREADS, measure_matmul(matmul_mxnet_dot)),
    ('matmul-mxnet-onednn', PROGRAM_THREADS, measure_matmul(matmul_mxnet_onednn)),
    ('matmul-torch', PROGRAM_THREADS, measure_matmul(matmul_torch)),
]
# Run once, after the repetitions: where the program's time and memory go.
ANALYSES = [
    ('passes', PROGRAM_THREADS, measure_passes),
    ('memory', PROGRAM_THREADS, measure_memory),
]
MEASUREMENTS = {name: measure for name, _, _, measure in CONTENDERS}
MEASUREMENTS.update({name: measure for name, _, measure in PEAKS + ANALYSES})
