"""Several machines, on one: MXNet's scheduler, one server and two workers on localhost."""
import contextlib
import os
import socket
import subprocess
import sys

import mxnet as mx
import numpy as np

import dcgan_mnist as app
from helpers import DIST_BATCH, REPO, worker_batches

TESTS = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def parameter_server(workers=2):
    """A scheduler and one server on loopback; yields the environment for the workers."""
    env = dict(os.environ, DMLC_PS_ROOT_URI='127.0.0.1', DMLC_PS_ROOT_PORT=str(free_port()),
               DMLC_NUM_SERVER='1', DMLC_NUM_WORKER=str(workers), PS_VERBOSE='0')
    env.pop('DISPLAY', None)
    roles = [subprocess.Popen([sys.executable, '-c', 'import mxnet'], env=dict(env, DMLC_ROLE=role),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for role in ('scheduler', 'server')]
    try:
        yield dict(env, DMLC_ROLE='worker')
    finally:
        for process in roles:
            try:
                process.wait(timeout=30)  # they stop once the workers are done
            except subprocess.TimeoutExpired:
                process.kill()


def run_workers(command, env, workers=2):
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(workers)]
    results = []
    for process in processes:
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        results.append((process.returncode, stdout, stderr))
    return results


def saved(path):
    return {key: value.asnumpy() for key, value in mx.nd.load(path).items()}


def test_two_workers_end_with_identical_parameters_equal_to_one_process(tmp_path):
    """Both workers hold the same trainable parameters at the end, and they are those of one
    process training on two devices, each device fed what one worker was fed. (BatchNorm's
    moving statistics are each worker's own, as they are each device's own: only gradients
    travel through the kvstore.)"""
    with parameter_server() as env:
        results = run_workers([sys.executable, os.path.join(TESTS, 'dist_worker.py'),
                               str(tmp_path)], env)
    for returncode, _, stderr in results:
        assert returncode == 0, stderr

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

    for name, module in (('generator', generator), ('discriminator', discriminator)):
        worker_0 = saved(str(tmp_path / ('%s-0.params' % name)))
        worker_1 = saved(str(tmp_path / ('%s-1.params' % name)))
        arg_params, _ = module.get_params()
        assert sorted(worker_0) == sorted(worker_1)
        trainable = [key for key in worker_0 if key.startswith('arg:')]
        assert len(trainable) == len(arg_params)
        for key in trainable:
            np.testing.assert_array_equal(worker_0[key], worker_1[key], err_msg=key)
            np.testing.assert_allclose(worker_0[key], arg_params[key[4:]].asnumpy(),
                                       rtol=1e-4, atol=1e-6, err_msg=key)


def test_the_program_trains_as_two_workers_and_only_the_first_writes(small_mnist, tmp_path):
    out = tmp_path / 'run'
    with parameter_server() as env:
        results = run_workers(
            [sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--kvstore', 'dist_sync',
             '--seed', '3', '--batch-size', '8', '--max-iters', '3', '--vis-every', '2',
             '--data-dir', str(small_mnist), '--output-dir', str(out), '--no-show'], env)
    outputs = sorted(stdout for _, stdout, _ in results)
    for returncode, stdout, stderr in results:
        assert returncode == 0, stderr
        assert 'Done: 3 iterations in all.' in stdout
    assert 'as worker 0 of 2' in outputs[0] + outputs[1]
    assert 'as worker 1 of 2' in outputs[0] + outputs[1]
    # 52 images: 26 a worker, 4 batches of 8 an epoch
    assert sum('iter 2/4' in stdout for stdout in outputs) == 1  # only the chief reports
    assert os.path.isdir(out / 'checkpoints' / 'iter-0000003')
    assert 'epoch000_iter0002.png' in os.listdir(out)


def test_distributed_needs_a_seed_and_the_launcher(small_mnist, tmp_path):
    from helpers import run_program
    result = run_program('--kvstore', 'dist_sync', '--data-dir', str(small_mnist))
    assert result.returncode == 1
    assert result.stderr.strip() == ('error: --kvstore dist_sync needs --seed: every worker '
                                     'must start from the same weights')
    env = {k: v for k, v in os.environ.items() if not k.startswith('DMLC_')}
    result = subprocess.run([sys.executable, os.path.join(REPO, 'dcgan_mnist.py'), '--kvstore',
                             'dist_sync', '--seed', '1', '--data-dir', str(small_mnist)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert 'start the workers with MXNet\'s launcher' in result.stderr
