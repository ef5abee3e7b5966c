"""The GPU box: the tutorial's shapes and one training step on gpu(0), the step against the
same step on the CPU, and a batch split over two GPUs. Each check is a function of the
devices, run twice: on CPU contexts everywhere (so CI exercises all of it but the device), and
on GPUs where MXNet sees them; elsewhere the GPU tests are skipped, saying why in one line."""
import numpy as np
import pytest

from dcgan import devices
from dcgan.framework import mx
from helpers import BATCH, NOISE, build_modules, check_two_devices, in_one_suite, weight_steps

pytestmark = in_one_suite('gpu-box')  # MXNet's arithmetic; the GPU's own tests run on a GPU box

GPUS = devices.gpu_count(mx)
# cuDNN's convolutions sum in other orders than oneDNN's: a GPU's numbers are the CPU's to
# about float32's precision times the depth of the nets, not bit for bit.
GPU_IMAGES_ATOL = 1e-4
GPU_STEP_RTOL = 1e-2


def needs_gpus(count):
    return pytest.mark.skipif(GPUS < count, reason='needs %d GPU%s; MXNet sees %d here'
                              % (count, 's' if count > 1 else '', GPUS))


def check_shapes(ctx):
    """The tutorial's shapes, on `ctx`: noise (B, 100, 1, 1) in, images (B, 3, 64, 64) in
    [-1, 1] out of G, and one probability per image, (B, 1), out of D."""
    generator, discriminator = build_modules(ctx=ctx)
    noise = mx.nd.random.normal(shape=(BATCH, NOISE, 1, 1), ctx=ctx)
    generator.forward(mx.io.DataBatch([noise], []), is_train=False)
    images = generator.get_outputs()[0]
    assert images.shape == (BATCH, 3, 64, 64) and images.context == ctx
    assert np.abs(images.asnumpy()).max() <= 1
    discriminator.forward(mx.io.DataBatch([images], [mx.nd.ones((BATCH,), ctx=ctx)]),
                          is_train=False)
    judged = discriminator.get_outputs()[0]
    assert judged.shape == (BATCH, 1) and judged.context == ctx
    assert ((0 <= judged.asnumpy()) & (judged.asnumpy() <= 1)).all()


def check_step_against_the_cpu(ctx, step_rtol):
    """One step on `ctx` moves every weight as the same step on the CPU does, to `step_rtol`
    of the largest move of that weight. (BatchNorm's gammas are fixed at 1, as the tutorial
    has them: they must not move at all.)"""
    check_steps(weight_steps({'ctx': ctx}), step_rtol)


def check_steps(steps, step_rtol):
    """check_step_against_the_cpu's comparison, of (name, (step on the CPU, on the device))."""
    for name, (on_cpu, on_ctx) in steps:
        if name.endswith('_gamma'):
            assert not on_cpu.any() and not on_ctx.any(), name
            continue
        assert on_cpu.any(), name
        np.testing.assert_allclose(on_ctx, on_cpu, rtol=0, atol=step_rtol * np.abs(on_cpu).max(),
                                   err_msg=name)


# ------------------------- on CPU contexts: everywhere, CI included -------------------------

def test_the_shapes_on_a_cpu_context():
    check_shapes(mx.cpu(1))


@pytest.fixture(scope='module')
def steps_on_another_cpu_context():
    return list(weight_steps({'ctx': mx.cpu(1)}))


def test_a_step_on_another_cpu_context_is_the_cpus_step(steps_on_another_cpu_context):
    check_steps(steps_on_another_cpu_context, step_rtol=0)


@pytest.mark.parametrize('spoil', [lambda step: -step, lambda step: 1.05 * step,
                                   lambda step: step + 0.05 * np.abs(step).max()],
                         ids=['turned around', '5% longer', 'shifted by 5% of the largest'])
def test_the_step_check_fails_when_a_device_steps_otherwise(steps_on_another_cpu_context,
                                                            spoil):
    """What the GPU's check is worth: handed a device whose step of one weight differs from
    the CPU's (as a wrong kernel's would) by more than its tolerance, it fails; honest, it
    passes."""
    check_steps(steps_on_another_cpu_context, GPU_STEP_RTOL)
    spoiled = [(name, (on_cpu, spoil(on_ctx) if name == 'd2_weight' else on_ctx))
               for name, (on_cpu, on_ctx) in steps_on_another_cpu_context]
    with pytest.raises(AssertionError, match='d2_weight'):
        check_steps(spoiled, GPU_STEP_RTOL)


# (The split over two CPU contexts: tests/test_training.py, with the same check.)

# ------------------------- on the GPU box -------------------------

@needs_gpus(1)
def test_this_mxnet_runs_on_this_card():
    devices.check_gpu_supported(0)  # the card's capability against the library's code


@needs_gpus(1)
def test_the_shapes_on_the_gpu():
    check_shapes(mx.gpu(0))


@needs_gpus(1)
def test_a_step_on_the_gpu_is_the_cpus_step():
    check_step_against_the_cpu(mx.gpu(0), GPU_STEP_RTOL)


@needs_gpus(2)
def test_a_batch_split_over_two_gpus_is_two_half_batches_summed():
    check_two_devices([mx.gpu(0), mx.gpu(1)], GPU_IMAGES_ATOL, GPU_STEP_RTOL)
