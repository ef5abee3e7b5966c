"""How fast, and in how much memory: the program's training step beside the tutorial's, a
PyTorch peer and the machine's fastest matrix product, each measured in a process of its own.

    python tools/benchmark.py             # about 10 minutes; a table, and tools/benchmark.json
    python tools/benchmark.py --repeat 1 --iters 3
    python tools/benchmark.py --profile   # where one iteration's time goes (oneDNN's own log)
    python tools/benchmark.py --profile bfloat16   # the same, for --dtype bfloat16
    python tools/benchmark.py --pipeline  # --data's image pipeline alone, into benchmark.json

Two frameworks in one process are no fair race: their OpenMP runtimes fight, and PyTorch
inside a process that had loaded MXNet ran up to 1.9 times slower than alone. So every
contender runs in a fresh `python tools/benchmark.py --contender NAME` that imports only what
measures, with the thread setting stated beside its row; each is run `--repeat` times,
interleaved, and the table gives the median run with the spread of all runs. A run's time
is the median of `--iters` iterations after `--warmup`, at batch 64 on the full networks.

The contenders (CONTENDERS): the program's step; the tutorial's step as it is written, with
the program's threads; the tutorial as shipped (MXNet's own thread choice, its preparation
of all 70,000 images at once), with its preparation time and peak memory; the same networks
and passes in PyTorch eager (optional: `pip install torch==2.13.0`; left out without it);
the program with --dtype bfloat16 and PyTorch under bfloat16 autocast; and the float32 matrix
products whose best is the peak the steps are measured against.

Once after them (ANALYSES), where the program's iteration goes: the milliseconds of each pass
(G and D, forward and backward) and its GFLOP/s, from MXNet's own profiler; and its resident
memory stage by stage along a start-up. `--profile` goes one level down, to oneDNN's
primitives (each convolution's kernel, layout and speed).
"""
import on_path  # first: the repository on sys.path, for dcgan/
# Then: refuses a Python MXNet cannot run (in one line), sets the thread defaults before numpy
# and MXNet load, and gives numpy back the aliases MXNet uses. MXNet itself is imported by
# each measurement that needs it, through dcgan.framework.
from dcgan import mxnet_setup

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

# The tutorial as shipped runs with MXNet's own thread choice: its parent leaves
# OMP_NUM_THREADS unset and sets this, and the default mxnet_setup gave is taken back here,
# before MXNet loads (OpenMP reads the variable once, then).
MXNET_OWN_THREADS = 'BENCHMARK_MXNET_OWN_THREADS'
if os.environ.pop(MXNET_OWN_THREADS, None):
    os.environ.pop('OMP_NUM_THREADS', None)

import numpy as np  # noqa: E402

REPO = on_path.REPOSITORY
HERE = os.path.dirname(os.path.abspath(__file__))
MATMUL_SIZE = 4096
GOAL_VS_TORCH = 0.67       # the program's step at most this share of PyTorch's time
GOAL_SHARE_OF_PEAK = 0.85  # and at least this share of the peak
GOAL_STARTUP_MB = 1000     # start-up peak resident memory at most this
GOAL_BFLOAT16_VS_AUTOCAST = 0.67  # --dtype bfloat16's step at most this share of PyTorch's
GOAL_BFLOAT16_VS_FLOAT32 = 0.5    # bfloat16 autocast step, and of the program's float32 step


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
MEASUREMENTS['pipeline'] = lambda args: measure_pipeline(args)  # defined below


# ============================== --data's image pipeline ==============================

PIPELINE_IMAGES = 20000          # JPEGs of a face data set's size (CelebA's 178 x 218)
PIPELINE_SHAPE = (218, 178)
PIPELINE_BATCHES = 60            # timed, after PIPELINE_WARMUP
PIPELINE_WARMUP = 3
GPU_STEP_IMAGES_PER_SECOND = 6400  # a GPU step takes a batch of 64 in about 10 ms


def make_pipeline_images(folder, count=PIPELINE_IMAGES):
    """`count` JPEGs of PIPELINE_SHAPE: smooth colour fields and a disc, as photos compress."""
    import cv2
    rng = np.random.RandomState(0)
    height, width = PIPELINE_SHAPE
    for index in range(count):
        corners = rng.randint(0, 256, (2, 2, 3)).astype(np.uint8)
        image = cv2.resize(corners, (width, height), interpolation=cv2.INTER_LINEAR)
        cv2.circle(image, tuple(int(v) for v in rng.randint(30, 150, 2)), int(rng.randint(10, 60)),
                   tuple(int(v) for v in rng.randint(0, 256, 3)), -1)
        sub = os.path.join(folder, '%03d' % (index // 1000))
        os.makedirs(sub, exist_ok=True)
        cv2.imwrite(os.path.join(sub, '%06d.jpg' % index), image)


def measure_pipeline(args):
    """--data's start (listing, fingerprint, the pack: made now, or found) and its batches per
    second through ImageRecordIter with --pipeline-threads decoding threads, in this process."""
    from dcgan import own_images
    started = time.perf_counter()
    images = own_images.open_images(args.pipeline_folder, args.pipeline_cache)
    opened = time.perf_counter() - started
    batches = own_images.RecordBatches(images, args.batch_size, 64,
                                       threads=args.pipeline_threads)
    batches.reset()
    for _ in range(PIPELINE_WARMUP):
        batches.next().data[0].wait_to_read()
    started = time.perf_counter()
    for _ in range(PIPELINE_BATCHES):
        batches.next().data[0].wait_to_read()
    seconds = time.perf_counter() - started
    return {'images': images.count, 'open_seconds': opened, 'threads': args.pipeline_threads,
            'images_per_second': PIPELINE_BATCHES * args.batch_size / seconds,
            'peak_rss_mb': peak_rss_mb()}


def run_pipeline(args):
    """The pipeline alone: a made folder packed once, then read with 1, 2 and all usable
    threads (MXNet caps its decoding threads at half the CPUs), each in its own process,
    --repeat times interleaved; against what the program's CPU step and a GPU step take."""
    threads = sorted({1, 2, mxnet_setup.usable_cpu_count()})
    with tempfile.TemporaryDirectory() as work:
        folder, cache = os.path.join(work, 'images'), os.path.join(work, 'cache')
        started = time.perf_counter()
        make_pipeline_images(folder)
        print('made %d JPEGs in %.0f s' % (PIPELINE_IMAGES, time.perf_counter() - started),
              file=sys.stderr, flush=True)

        def read(count):
            done = subprocess.run(
                [sys.executable, os.path.abspath(__file__), '--contender', 'pipeline',
                 '--batch-size', str(args.batch_size), '--pipeline-folder', folder,
                 '--pipeline-cache', cache, '--pipeline-threads', str(count)],
                capture_output=True, text=True, env=contender_env(PROGRAM_THREADS))
            if done.returncode != 0:
                raise RuntimeError('pipeline failed: %s' % done.stderr.strip()[-500:])
            return json.loads(done.stdout.strip().splitlines()[-1])
        first = read(threads[-1])  # packs the folder
        runs = collections.defaultdict(list)
        for _ in range(args.repeat):
            for count in threads:
                runs[count].append(read(count))
    with open(args.json) as f:
        report = json.load(f)
    program = next(step for step in report['steps'] if step['contender'] == 'program')
    rows = [{'threads': count,
             'images_per_second': statistics.median(r['images_per_second'] for r in found),
             'range': [min(r['images_per_second'] for r in found),
                       max(r['images_per_second'] for r in found)],
             'start_seconds': statistics.median(r['open_seconds'] for r in found),
             'peak_rss_mb': max(r['peak_rss_mb'] for r in found)}
            for count, found in sorted(runs.items())]
    return {'images': PIPELINE_IMAGES, 'image_shape': list(PIPELINE_SHAPE),
            'pack_seconds': first['open_seconds'], 'rows': rows,
            'cpu': cpu_name(), 'cpu_step_needs': program['images_per_second'],
            'cpu_step_measured_on': report['cpu'], 'gpu_step_needs': GPU_STEP_IMAGES_PER_SECOND}


def print_pipeline(found):
    print('--data\'s pipeline: %d JPEGs of %dx%d, packed in %.1f s (%.0f images/s); the CPU '
          'step needs %.0f images/s (on %s), a GPU step about %d'
          % (found['images'], found['image_shape'][1], found['image_shape'][0],
             found['pack_seconds'], found['images'] / found['pack_seconds'],
             found['cpu_step_needs'], found['cpu_step_measured_on'], found['gpu_step_needs']))
    for row in found['rows']:
        print('  %d decoding thread(s) asked: %6.0f images/s (%.0f-%.0f), start %.2f s (the '
              'pack found), peak %d MB' % ((row['threads'], row['images_per_second'])
                                           + tuple(row['range'])
                                           + (row['start_seconds'], row['peak_rss_mb'])))


# ============================== running the contenders ==============================

def contender_env(threads):
    """The environment of a contender's process: the program's threads, or MXNet's own."""
    environ = dict(os.environ)
    if threads == 'mxnet':
        environ.pop('OMP_NUM_THREADS', None)
        environ[MXNET_OWN_THREADS] = '1'
    else:
        environ.setdefault('OMP_NUM_THREADS', str(mxnet_setup.usable_cpu_count()))
    return environ


def thread_note(result):
    """How the contender's threads were set, from what its own process saw."""
    if result.get('threads'):
        return result['threads']
    if result['omp_num_threads'] is None:
        return 'MXNet\'s own choice (OMP_NUM_THREADS unset)'
    return 'OMP_NUM_THREADS=%s' % result['omp_num_threads']


def run_contender(name, threads, args):
    """Run one contender in a fresh process; its result dict, or None when it cannot run."""
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--contender', name, '--iters',
         str(args.iters), '--warmup', str(args.warmup), '--batch-size', str(args.batch_size),
         '--data-dir', args.data_dir], capture_output=True, text=True, env=contender_env(threads))
    if result.returncode != 0:
        raise RuntimeError('%s failed: %s' % (name, result.stderr.strip().splitlines()[-1:]))
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if found is not None:
        found['threads'] = thread_note(found)
    return found


def run_all(args, log):
    """{name: [result of each repetition]}, the repetitions interleaved so that a slow spell
    of the machine falls on all contenders alike."""
    runs = collections.defaultdict(list)
    jobs = [(name, threads) for name, _, threads, _ in CONTENDERS] + \
        [(name, threads) for name, threads, _ in PEAKS]
    for repetition in range(args.repeat):
        for name, threads in jobs:
            log('run %d/%d: %s' % (repetition + 1, args.repeat, name))
            result = run_contender(name, threads, args)
            if result is not None:
                runs[name].append(result)
    for name, threads, _ in ANALYSES:
        log('once: %s' % name)
        runs[name].append(run_contender(name, threads, args))
    return runs


# ============================== the report ==============================

def spread(values):
    """(median, lowest, highest)."""
    return statistics.median(values), min(values), max(values)


def summarise(runs, batch_size):
    """The report: each contender's median run with the spread over runs, the peak, goals."""
    gflop = runs['program'][0]['iteration_gflop']
    peaks = {name: spread([r['gflops'] for r in runs[name]]) + (runs[name][0]['version'],)
             for name, _, _ in PEAKS if runs.get(name)}
    peak_name = max(peaks, key=lambda name: peaks[name][0])
    peak = peaks[peak_name][0]
    torch_seconds = (spread([statistics.median(r['times']) for r in runs['pytorch']])[0]
                     if runs.get('pytorch') else None)
    rows = []
    for name, label, _, _ in CONTENDERS:
        if name == 'startup' or not runs.get(name):
            continue
        seconds, low, high = spread([statistics.median(r['times']) for r in runs[name]])
        first = runs[name][0]
        row = {'contender': name, 'what': '%s (%s, %s)' % (label, first['version'],
                                                            first['device']),
               'threads': first['threads'], 'seconds_per_iter': seconds,
               'seconds_per_iter_range': [low, high], 'runs': len(runs[name]),
               'images_per_second': batch_size / seconds, 'gflop_per_second': gflop / seconds,
               'share_of_peak': gflop / seconds / peak,
               'vs_torch': seconds / torch_seconds if torch_seconds else None}
        for key in ('prep_seconds', 'peak_rss_mb'):
            if key in first:
                row[key] = statistics.median(r[key] for r in runs[name])
        rows.append(row)
    startup = runs['startup']
    report = {'batch_size': batch_size, 'iteration_gflop': gflop, 'peak_gflops': peak,
              'peak_source': peaks[peak_name][3],
              'matmul_gflops': {name: {'median': m, 'range': [lo, hi], 'what': what}
                                for name, (m, lo, hi, what) in peaks.items()},
              'steps': rows,
              'startup_prep_seconds': statistics.median(r['prep_seconds'] for r in startup),
              'startup_peak_rss_mb': spread([r['peak_rss_mb'] for r in startup]),
              'cpu': cpu_name(), 'usable_cpus': os.cpu_count()}
    if runs.get('passes'):
        report['passes'] = runs['passes'][0]
    if runs.get('memory'):
        report['memory'] = runs['memory'][0]
    program = rows[0]
    report['goals'] = {
        'step_vs_torch': [program['vs_torch'], GOAL_VS_TORCH],
        'share_of_peak': [program['share_of_peak'], GOAL_SHARE_OF_PEAK],
        'startup_peak_rss_mb': [report['startup_peak_rss_mb'][0], GOAL_STARTUP_MB]}
    seconds = {row['contender']: row['seconds_per_iter'] for row in rows}
    if 'program-bfloat16' in seconds:
        report['goals']['bfloat16_vs_autocast'] = [
            seconds['program-bfloat16'] / seconds['pytorch-bfloat16']
            if 'pytorch-bfloat16' in seconds else None, GOAL_BFLOAT16_VS_AUTOCAST]
        report['goals']['bfloat16_vs_float32'] = [
            seconds['program-bfloat16'] / seconds['program'], GOAL_BFLOAT16_VS_FLOAT32]
    return report


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        return 'unknown'


def print_report(report):
    print('%s; batch %d; one iteration = %.0f GFLOP; peak %.0f GFLOP/s (%s, %dx%d float32)'
          % (report['cpu'], report['batch_size'], report['iteration_gflop'],
             report['peak_gflops'], report['peak_source'], MATMUL_SIZE, MATMUL_SIZE))
    print('%-52s %19s %6s %8s %8s  %s' % ('', 's/iter (range)', 'img/s', 'of peak', 'vs torch',
                                          'threads'))
    for row in report['steps']:
        low, high = row['seconds_per_iter_range']
        print('%-52s %6.3f (%.2f-%.2f) %6.1f %7.0f%% %8s  %s'
              % (row['what'][:52], row['seconds_per_iter'], low, high,
                 row['images_per_second'], 100 * row['share_of_peak'],
                 '%.2fx' % row['vs_torch'] if row['vs_torch'] else '-', row['threads']))
        if 'peak_rss_mb' in row:
            print('%52s data preparation %.1f s, peak resident memory %.0f MB'
                  % ('', row['prep_seconds'], row['peak_rss_mb']))
    for name, found in report['matmul_gflops'].items():
        print('matrix product: %-40s %6.0f GFLOP/s (%.0f-%.0f)'
              % (found['what'], found['median'], *found['range']))
    median, low, high = report['startup_peak_rss_mb']
    print('the program\'s start-up: data ready in %.1f s; peak resident memory %.0f MB '
          '(%.0f-%.0f)' % (report['startup_prep_seconds'], median, low, high))
    if 'passes' in report:
        print_passes(report['passes'], report['peak_gflops'])
    if 'memory' in report:
        print_memory(report['memory'])
    for goal, (value, target) in report['goals'].items():
        met = value is not None and (value >= target if goal == 'share_of_peak'
                                     else value <= target)
        print('goal %-20s %s (target %s): %s' % (goal, '-' if value is None else '%.2f' % value,
                                                 target, 'met' if met else 'NOT met'))


def print_passes(found, peak):
    print('where an iteration of the program goes (MXNet\'s profiler; %.0f ms wall):'
          % found['wall_ms'])
    for row in found['passes']:
        rate = ('%5.0f GFLOP/s, %3.0f%% of peak' % (row['gflop'] / row['ms'] * 1000,
                                                    100 * row['gflop'] / row['ms'] * 1000 / peak)
                if row['gflop'] else '')
        print('  %-28s %7.1f ms  %s' % (row['pass'], row['ms'], rate))


def print_memory(found):
    print('resident memory along the program\'s start-up (parameters: G %.1f M, D %.1f M; '
          'each copy of both %.0f MB):' % (found['parameters']['generator'] / 1e6,
                                          found['parameters']['discriminator'] / 1e6,
                                          4 * sum(found['parameters'].values()) / 2 ** 20))
    before = 0
    for what, mb in found['stages']:
        print('  %-52s %6.0f MB  %+6.0f' % (what, mb, mb - before))
        before = mb


# ============================== profile ==============================

SHAPE = re.compile(r'mb(\d+)_ic(\d+)oc(\d+)_ih(\d+)oh(\d+)kh(\d+).*?_iw(\d+)ow(\d+)kw(\d+)')


def primitive_flop(kind, shape):
    """FLOPs of a (de)convolution primitive from oneDNN's shape string; 0 for the rest."""
    found = SHAPE.search(shape)
    if not found or kind not in ('convolution', 'deconvolution'):
        return 0
    mb, ic, oc, ih, oh, kh, iw, ow, kw = map(int, found.groups())
    if kind == 'convolution':
        return 2 * mb * oc * oh * ow * ic * kh * kw
    return 2 * mb * ic * ih * iw * oc * kh * kw


def primitive_layer(kind, shape):
    """Which layer a (de)convolution primitive computes, from its shape string: channels and
    spatial size in and out; '' for the rest."""
    found = SHAPE.search(shape)
    if not found or kind not in ('convolution', 'deconvolution'):
        return ''
    _, ic, oc, ih, oh, _, iw, ow, _ = found.groups()
    return '%s->%s channels, %sx%s->%sx%s' % (ic, oc, ih, iw, oh, ow)


def profile(args):
    """Run a few program steps with oneDNN's verbose log; group one iteration's primitives by
    kind, direction, kernel and layer, each with its speed against oneDNN's matrix product."""
    peak = run_contender('matmul-mxnet-onednn', PROGRAM_THREADS, args)['gflops']
    contender = 'program-bfloat16' if args.profile == 'bfloat16' else 'program'
    environ = contender_env(PROGRAM_THREADS)
    environ.update(ONEDNN_VERBOSE='1', DNNL_VERBOSE='1', MKLDNN_VERBOSE='1')
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), '--contender', contender, '--iters', '1',
         '--warmup', '2', '--batch-size', str(args.batch_size), '--data-dir', args.data_dir],
        capture_output=True, text=True, env=environ)
    lines = [line.split(',') for line in result.stdout.splitlines()
             if line.startswith('dnnl_verbose,exec')]
    timed = json.loads(result.stdout.strip().splitlines()[-1])
    # The last iteration's primitives: as many lines as one iteration has, from the end.
    per_iteration = len(lines) // 3
    groups = collections.defaultdict(lambda: [0.0, 0, 0])
    for fields in lines[-per_iteration:]:
        kind, implementation, direction = fields[3], fields[4], fields[5]
        group = groups[(kind, direction, implementation, primitive_layer(kind, fields[-2]))]
        group[0] += float(fields[-1])
        group[1] += 1
        group[2] += primitive_flop(kind, fields[-2])
    total_ms = sum(g[0] for g in groups.values())
    print('one program iteration: %.0f ms of oneDNN primitives, %.0f ms wall'
          % (total_ms, 1000 * statistics.median(timed['times'])))
    print('(oneDNN\'s log times every primitive by itself, which slows the iteration down)')
    print('%8s %6s %5s %8s %8s  %s' % ('ms', 'share', 'calls', 'GFLOP/s', 'of peak',
                                       'primitive'))
    for (kind, direction, implementation, layer), (ms, calls, flop) in sorted(
            groups.items(), key=lambda item: -item[1][0]):
        rate = flop / ms / 1e6
        print('%8.1f %5.1f%% %5d %8s %8s  %s %s (%s) %s'
              % (ms, 100 * ms / total_ms, calls, '%.0f' % rate if flop else '-',
                 '%.0f%%' % (100 * rate / peak) if flop else '-', kind, direction,
                 implementation, layer))
    print('peak: %.0f GFLOP/s, oneDNN\'s %dx%d float32 matrix product' % (peak, MATMUL_SIZE,
                                                                        MATMUL_SIZE))


# ============================== main ==============================

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--json', default=os.path.join(HERE, 'benchmark.json'))
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--profile', nargs='?', const='float32', choices=('float32', 'bfloat16'),
                        help='profile the program\'s step (in bfloat16: --profile bfloat16)')
    parser.add_argument('--pipeline', action='store_true',
                        help='measure --data\'s image pipeline alone and add it to --json')
    parser.add_argument('--contender', choices=sorted(MEASUREMENTS), help=argparse.SUPPRESS)
    for name in ('--pipeline-folder', '--pipeline-cache'):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument('--pipeline-threads', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from dcgan import mnist
    args.data_dir = args.data_dir or mnist.default_data_dir()
    if args.contender:
        result = MEASUREMENTS[args.contender](args)
        if result is not None:
            result['omp_num_threads'] = os.environ.get('OMP_NUM_THREADS')
        print(json.dumps(result))
        return
    if args.profile:
        profile(args)
        return
    if args.pipeline:
        found = run_pipeline(args)
        print_pipeline(found)
        with open(args.json) as f:
            report = json.load(f)
        report['pipeline'] = found
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print('wrote %s' % args.json)
        return
    report = summarise(run_all(args, lambda line: print(line, file=sys.stderr, flush=True)),
                       args.batch_size)
    print_report(report)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print('wrote %s' % args.json)


if __name__ == '__main__':
    main()
