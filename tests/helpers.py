"""Test helpers: small IDX files, digit-like images, and running the program headless."""
import csv
import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import dcgan_mnist as app
import symbols
from dcgan.framework import mx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_MNIST = os.path.join(os.path.dirname(REPO), 'shared', 'data', 'mnist')


def idx_bytes(array):
    """The IDX encoding of a uint8 array: magic (0, 0, 0x08, ndim), big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack('>%dI' % array.ndim, *array.shape)
    return header + array.tobytes()


def write_idx(path, array):
    """Write `array` as an IDX file, gzip-compressed when the name ends in .gz."""
    data = idx_bytes(array)
    if path.endswith('.gz'):
        data = gzip.compress(data)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def digit_like_images(count, seed):
    """`count` 28x28 uint8 images, each a bright bar at a different place on black."""
    rng = np.random.RandomState(seed)
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    for index in range(count):
        row, column = rng.randint(2, 20, size=2)
        images[index, row:row + 6, column:column + 3] = rng.randint(128, 256)
    return images


def write_small_mnist(folder):
    """The four MNIST files, gzip, holding 40 training and 12 test images, in `folder`."""
    folder.mkdir()
    sets = {'train': digit_like_images(40, seed=0), 't10k': digit_like_images(12, seed=1)}
    for prefix, images in sets.items():
        write_idx(str(folder / ('%s-images-idx3-ubyte.gz' % prefix)), images)
        write_idx(str(folder / ('%s-labels-idx1-ubyte.gz' % prefix)),
                  np.arange(len(images)) % 10)
    return folder


def headless_env(**extra):
    """This process's environment with no display, no matplotlib backend and no MXNet
    distributed role (DMLC_*), plus `extra`: a program run with it is headless and alone."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ('DISPLAY', 'WAYLAND_DISPLAY', 'MPLBACKEND')
                   and not key.startswith('DMLC_')}
    environment.update(extra)
    return environment


# Tests that compare numbers run on the CPU, named: on a GPU box, --context auto would pick
# gpu(0), whose numbers are cuDNN's (tests/test_gpu.py is where the GPU is checked).
ON_CPU = ['--context', 'cpu']


def run_program(*args, env=None, timeout=600, context=ON_CPU, python=sys.executable):
    """Run `python dcgan_mnist.py ARGS` headless (with this Python unless `python` names
    another), on the CPU unless ARGS name the devices (or `context` is None: --context auto);
    returns the CompletedProcess."""
    named = any(arg.split('=')[0] in ('--context', '--gpus') for arg in args)
    args = list(args) + ([] if named or context is None else context)
    return subprocess.run([python, os.path.join(REPO, 'dcgan_mnist.py')] + args,
                          capture_output=True, text=True, env=headless_env(**(env or {})),
                          timeout=timeout)


# A small run: the full networks on write_small_mnist's 52 images (training and test, as the
# tutorial takes MNIST's 70,000) in batches of 8, 7 iterations an epoch: seconds a run.
SMALL_RUN_FLAGS = ON_CPU + ['--batch-size', '8', '--seed', '11', '--no-show']
TWO_EPOCHS = 14


def train_small(data_dir, *flags):
    """dcgan_mnist.py with SMALL_RUN_FLAGS on the MNIST files in `data_dir`, to its end."""
    result = run_program('--data-dir', data_dir, *SMALL_RUN_FLAGS, *flags)
    assert result.returncode == 0, result.stderr
    return result


def one_error_line(result):
    """The single line a failed run printed to stderr (and nothing else there)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def mxnet_sees_a_gpu():
    from dcgan import devices
    from dcgan.framework import mx
    return devices.gpu_count(mx) > 0


def cpu_build():
    """Whether MXNet says it was built without CUDA (its own list of features)."""
    from dcgan.framework import mx
    return not mx.runtime.Features().is_enabled('CUDA')


# For tests of what happens where there is no GPU, or with MXNet's CPU build: on a GPU box,
# skipped, saying why in one line.
where_no_gpu = pytest.mark.skipif(mxnet_sees_a_gpu(), reason='checks a machine without a GPU, '
                                  'and MXNet sees one here')
def cpu_has_bfloat16():
    """Whether this CPU has bfloat16 instructions (without, oneDNN cannot run the bfloat16
    convolutions at all here, and the program refuses --dtype bfloat16)."""
    from dcgan import bfloat16
    return bool(bfloat16.cpu_flags() & set(bfloat16.BFLOAT16_FLAGS))


with_bfloat16_instructions = pytest.mark.skipif(
    not cpu_has_bfloat16(), reason='needs a CPU with bfloat16 instructions (avx512_bf16 or '
                                   'amx_bf16); this one has neither')
with_the_cpu_build = pytest.mark.skipif(not cpu_build(), reason='checks MXNet\'s CPU build, and '
                                        'a GPU build is installed here')


# CI runs the README's test command in four suites side by side, named by DCGAN_SUITE: the
# machine's Python with the CPU build (`machine`), the same Python with the GPU build
# (`gpu-box`), the newest other supported Python (`newest`) and the rest (`other`). Where only
# two Pythons are supported there is no `other`: the newest Python's suite takes its share,
# named `newest+other`. A test runs in every suite unless its subject hangs on less:
# - in_one_suite: slow tests whose result hangs neither on the Python nor on the MXNet build
#   (MXNet's arithmetic, files, a program's outputs: CI checks that checkpoints are
#   byte-identical across Pythons and builds, .ci/run's end); each runs once, in one of the
#   four, shared out so that the suites end together (CI lasts as long as its longest);
# - on_every_python: slow tests whose subject is the Python (signals, threads, the launcher's
#   processes) but not the MXNet build; they run in every suite but the GPU box's.
# Run by hand (DCGAN_SUITE unset), every test runs.
SUITES = ('machine', 'gpu-box', 'newest', 'other')


def in_suites(*suites, why):
    assert set(suites) <= set(SUITES), suites
    running = os.environ.get('DCGAN_SUITE')
    return pytest.mark.skipif(running is not None and not set(running.split('+')) & set(suites),
                              reason=why)


def in_one_suite(suite='machine'):
    assert suite in SUITES, suite
    return in_suites(suite, why='run once in CI, in its %s suite' % suite)


on_every_python = in_suites('machine', 'newest', 'other', why='its subject is the Python, not the MXNet '
                                                    'build: CI runs it on every Python, with the '
                                                    'CPU build')


# ============================== distributed training ==============================

TESTS = os.path.dirname(os.path.abspath(__file__))
DIST_TIMEOUT = 300  # seconds a distributed job of the tests may take, at most
JOB_FLAGS = ['--checkpoint-every', '2', '--epochs', '100']  # 4 iterations an epoch here

# Two hosts of private test addresses, as network namespaces joined by a veth pair (the
# two_hosts fixture, tests/conftest.py); names of this process's own, so that test runs side
# by side (CI's, one per Python) do not meet.
HOSTS = {'dcgan%d-a' % os.getpid(): '10.213.7.1', 'dcgan%d-b' % os.getpid(): '10.213.7.2'}
VETH = ('dcg%d-a' % os.getpid(), 'dcg%d-b' % os.getpid())  # at most 15 characters

# The distributed test: each worker's batches, also fed to the single-process check.
DIST_BATCH = 4
DIST_ITERATIONS = 3


def worker_batches(rank, iterations=DIST_ITERATIONS):
    """(real images, noise) for each iteration of worker `rank`."""
    rng = np.random.RandomState(100 + rank)
    return [(rng.uniform(-1, 1, (DIST_BATCH, 3, 64, 64)).astype(np.float32),
             rng.standard_normal((DIST_BATCH, 100, 1, 1)).astype(np.float32))
            for _ in range(iterations)]


def saved(path):
    return {key: value.asnumpy() for key, value in mx.nd.load(path).items()}


def trainable(path):
    return {key: value for key, value in saved(path).items() if key.startswith('arg:')}


def assert_same_trainable(folder_a, folder_b):
    from dcgan import checkpoint
    for name in checkpoint.NETWORKS:
        a = trainable(os.path.join(folder_a, name + '.params'))
        b = trainable(os.path.join(folder_b, name + '.params'))
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def one_process_on_two_devices():
    """What the two workers of dist_worker.py must end with: one process, one device per
    worker, each fed that worker's batches."""
    devices = [mx.cpu(0), mx.cpu(1)]
    mx.random.seed(3)
    generator = app.build_generator(devices, 2 * DIST_BATCH, 100, app.LEARNING_RATE,
                                    app.BETA1, app.INIT_SIGMA)
    discriminator = app.build_discriminator(devices, 2 * DIST_BATCH, app.LEARNING_RATE,
                                            app.BETA1, app.INIT_SIGMA)
    judge = app.build_judge(discriminator)
    for (real_0, noise_0), (real_1, noise_1) in zip(worker_batches(0), worker_batches(1)):
        app.train_step(generator, discriminator, mx.nd.array(np.concatenate([real_0, real_1])),
                       mx.nd.array(np.concatenate([noise_0, noise_1])), judge)
    mx.nd.waitall()
    return {'generator': generator.get_params()[0],
            'discriminator': discriminator.get_params()[0]}


def assert_workers_match_one_process(folder):
    """Both workers hold the same trainable parameters, those of one process on two devices.
    (BatchNorm's moving statistics are each worker's own, as they are each device's own.)"""
    expected = one_process_on_two_devices()
    for name, arg_params in expected.items():
        worker_0 = trainable(os.path.join(folder, '%s-0.params' % name))
        worker_1 = trainable(os.path.join(folder, '%s-1.params' % name))
        assert sorted(worker_0) == sorted(worker_1) == sorted('arg:' + k for k in arg_params)
        for key in worker_0:
            np.testing.assert_array_equal(worker_0[key], worker_1[key], err_msg=key)
            np.testing.assert_allclose(worker_0[key], arg_params[key[4:]].asnumpy(),
                                       rtol=1e-4, atol=1e-6, err_msg=key)


# ============================== comparing runs ==============================

def assert_same_checkpoint_params(folder_a, folder_b):
    """Both networks' parameters in two checkpoint folders are equal, bit for bit."""
    for name in ('generator', 'discriminator'):
        a, b = (mx.nd.load(os.path.join(folder, name + '.params'))
                for folder in (folder_a, folder_b))
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key].asnumpy(), b[key].asnumpy(), err_msg=key)


def metric_rows(run_dir):
    """A run's metrics.csv without the timing column."""
    with open(os.path.join(run_dir, 'metrics.csv'), newline='') as f:
        return [{k: v for k, v in row.items() if k != 'seconds'} for row in csv.DictReader(f)]


def run_and_export(data_dir, folder):
    """(run, model): a 2-iteration run at batch 8 in `folder`, and its generator exported to
    ONNX there, for the tests of what is drawn from both."""
    import sample
    run = os.path.join(str(folder), 'run')
    done = run_program('--data-dir', data_dir, '--batch-size', '8', '--seed', '2', '--no-show',
                       '--max-iters', '2', '--output-dir', run)
    assert done.returncode == 0, done.stderr
    model = os.path.join(str(folder), 'generator.onnx')
    sample.main([run, '--export', model, *ON_CPU])
    return run, model


# ============================== processes ==============================

def environ_of(pid):
    """The environment process `pid` started with, as a set of 'NAME=value' strings, and
    whether it is a Python; (None, False) once it has ended."""
    try:
        with open('/proc/%s/environ' % pid, 'rb') as f:
            variables = set(f.read().decode(errors='replace').split('\0'))
        with open('/proc/%s/comm' % pid) as f:
            return variables, f.read().startswith('python')
    except OSError:
        return None, False


def processes_with(*variables, python_only=True):
    """The pids of the processes (the Python ones, unless `python_only` is false) whose
    environment holds every one of `variables` ('NAME=value')."""
    wanted, found = set(variables), []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        environ, is_python = environ_of(pid)
        if environ is not None and wanted <= environ and (is_python or not python_only):
            found.append(int(pid))
    return found


def process_with_env(marker, role, task):
    """The pid of the Python process whose environment holds `marker` and that DMLC role and
    task id, or None."""
    found = processes_with(marker, 'DMLC_ROLE=' + role, 'DMLC_TASK_ID=%d' % task)
    return found[0] if found else None


# ============================== one step, computed independently ==============================
# The independent computation binds the networks' symbols as plain executors with the same
# parameters and runs the tutorial's passes by hand; nothing in it goes through the Modules,
# `train_step` or its kept-gradient bookkeeping (tests/test_training.py; test_gpu.py and
# test_bfloat16.py use it on other devices and precisions).

BATCH = 4
NOISE = 100


def build_modules(seed=0, ctx=None, dtype='float32'):
    mx.random.seed(seed)
    ctx = ctx or mx.cpu()
    generator = app.build_generator(ctx, BATCH, NOISE, app.LEARNING_RATE, app.BETA1,
                                    app.INIT_SIGMA, dtype=dtype)
    discriminator = app.build_discriminator(ctx, BATCH, app.LEARNING_RATE, app.BETA1,
                                            app.INIT_SIGMA, dtype=dtype)
    return generator, discriminator


def batch_inputs(seed=1):
    rng = np.random.RandomState(seed)
    real = rng.uniform(-1, 1, (BATCH, 3, 64, 64)).astype(np.float32)
    noise = rng.standard_normal((BATCH, NOISE, 1, 1)).astype(np.float32)
    return real, noise


def parameters(module):
    """(trainable parameters, auxiliary states) of a Module as numpy arrays."""
    # Without this wait, get_params() right after an iteration was seen here to return
    # BatchNorm moving statistics from before it: wait for the engine before reading.
    mx.nd.waitall()
    arg_params, aux_params = module.get_params()
    return ({name: array.asnumpy() for name, array in arg_params.items()},
            {name: array.asnumpy() for name, array in aux_params.items()})


def run_step(generator, discriminator, real, noise, judge=None):
    return app.train_step(generator, discriminator, mx.nd.array(real), mx.nd.array(noise),
                          judge)


def sgd_step_from(start, real, noise, **settings):
    """The trainable parameters of both nets after one training step from the parameters
    `start`, on modules built with `settings` (ctx, dtype). Plain SGD, so that the step is a
    multiple of the gradient, and a small one: a large step of D would saturate it, and G's
    gradient, taken through the updated D, would vanish."""
    modules = build_modules(**settings)
    for module, (arg_params, aux_params) in zip(modules, start):
        module.set_params(arg_params, aux_params)
        use_plain_sgd(module, learning_rate=0.01)
    run_step(*modules, real, noise)
    return [parameters(module)[0] for module in modules]


def weight_steps(*contenders):
    """One step from the same parameters and batch, first as the default run takes it (float32
    on the CPU), then with each of `contenders` (settings of build_modules): per weight of both
    nets, its name and the step it took in each."""
    start = [module.get_params() for module in build_modules(seed=3)]
    real, noise = batch_inputs(seed=4)
    before = [{name: array.asnumpy() for name, array in arg.items()} for arg, _ in start]
    after = [sgd_step_from(start, real, noise, **settings) for settings in ({},) + contenders]
    for net, weights in enumerate(before):
        for name, value in weights.items():
            yield name, [value - params[net][name] for params in after]


def bind(symbol, params, aux, **shapes):
    """A plain executor of `symbol` holding copies of `params` and `aux`."""
    executor = symbol.simple_bind(mx.cpu(), grad_req='write', **shapes)
    for name, array in executor.arg_dict.items():
        if name in params:
            array[:] = params[name]
    for name, array in executor.aux_dict.items():
        array[:] = aux[name]
    return executor


def discriminator_pass(params, aux, images, label):
    """D's output, parameter gradients and input gradient for `images` under one label."""
    executor = bind(symbols.discriminator_symbol(), params, aux,
                    data=images.shape, label=(len(images),))
    executor.forward(is_train=True, data=images, label=np.full(len(images), label, np.float32))
    executor.backward()
    output = executor.outputs[0].asnumpy().ravel()
    grads = {name: executor.grad_dict[name].asnumpy() for name in params}
    return output, grads, executor.grad_dict['data'].asnumpy()


def use_plain_sgd(module, learning_rate=float(BATCH)):
    """Swap Adam for SGD; with lr = batch size (the default) a step is exactly
    `weight -= gradient` (rescale_grad = 1 / batch), so the gradient a Module applied can be
    read off its weights."""
    module.init_optimizer(optimizer='sgd', optimizer_params={'learning_rate': learning_rate},
                          force_init=True)


def check_two_devices(devices, images_atol=1e-6, step_rtol=2e-3):
    """Two contexts split each batch in halves; each half has its own BatchNorm statistics.
    The independent computation: every pass per half on a single-context executor on the CPU,
    the gradients of the halves summed. (tests/test_gpu.py runs it on two GPUs.)"""
    mx.random.seed(3)
    generator = app.build_generator(devices, BATCH, NOISE, app.LEARNING_RATE, app.BETA1,
                                    app.INIT_SIGMA)
    discriminator = app.build_discriminator(devices, BATCH, app.LEARNING_RATE, app.BETA1,
                                            app.INIT_SIGMA)
    judge = app.build_judge(discriminator)
    use_plain_sgd(generator)
    use_plain_sgd(discriminator)
    real, noise = batch_inputs(seed=4)
    g_params, g_aux = parameters(generator)
    d_params, d_aux = parameters(discriminator)
    halves = [slice(0, BATCH // 2), slice(BATCH // 2, BATCH)]

    g_execs, fakes = [], []
    for half in halves:
        g_exec = bind(symbols.generator_symbol(), g_params, g_aux, rand=noise[half].shape)
        g_exec.forward(is_train=True, rand=noise[half])
        g_execs.append(g_exec)
        fakes.append(g_exec.outputs[0].asnumpy())
    d_grad = {name: 0 for name in d_params}
    for fake, half in zip(fakes, halves):
        for images, label in ((fake, 0.0), (real[half], 1.0)):
            _, grads, _ = discriminator_pass(d_params, d_aux, images, label)
            for name in d_grad:
                d_grad[name] = d_grad[name] + grads[name]
    d_expected = {name: d_params[name] - d_grad[name] for name in d_params}
    g_grad = {name: 0 for name in g_params}
    for g_exec, fake in zip(g_execs, fakes):
        _, _, input_grad = discriminator_pass(d_expected, d_aux, fake, 1.0)
        g_exec.backward(out_grads=[mx.nd.array(input_grad)])
        for name in g_grad:
            g_grad[name] = g_grad[name] + g_exec.grad_dict[name].asnumpy()
    g_expected = {name: g_params[name] - g_grad[name] for name in g_params}

    run_step(generator, discriminator, real, noise, judge)

    np.testing.assert_allclose(generator.get_outputs()[0].asnumpy(), np.concatenate(fakes),
                               atol=images_atol)
    for module, expected, before in ((discriminator, d_expected, d_params),
                                     (generator, g_expected, g_params)):
        actual, _ = parameters(module)
        for device_arrays, name in zip(module._exec_group.param_arrays,
                                       module._exec_group.param_names):
            # both devices hold the same weights after the update
            np.testing.assert_array_equal(device_arrays[0].asnumpy(), device_arrays[1].asnumpy())
        for name, value in expected.items():
            step = before[name] - value
            if not step.any():
                continue
            np.testing.assert_allclose(before[name] - actual[name], step, rtol=0,
                                       atol=step_rtol * np.abs(step).max(), err_msg=name)
