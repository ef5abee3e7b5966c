"""Drawing digits from a generator's weights: the Sampler, used by sample.py, score.py, and
training's figures and scores.

How samples are drawn, everywhere in this project: BatchNorm in training mode, that is with
each batch's own statistics, in batches of the training batch size (64 by default), exactly as
the generator ran while it learned. The moving averages BatchNorm keeps are not used: they
trail the weights, and the samples they give scored a little worse here (docs/quality.md).
The Sampler has an executor of its own (the generator of symbols.py, bound without
gradients): the training generator's state is never touched.
"""
import os

import symbols
from dcgan import checkpoint, drawing

NOISE_INPUT = 'rand'  # the generator's input variable (symbols.generator_symbol)


class Sampler:
    """Generates images from a copy of a generator's parameters, batch by batch."""

    def __init__(self, ctx, batch_size, noise_dim, channels=symbols.IMAGE_CHANNELS):
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.executor = symbols.generator_symbol(channels).simple_bind(
            ctx, grad_req='null', **{NOISE_INPUT: (batch_size, noise_dim, 1, 1)})

    def param_shapes(self):
        """{name: shape} of the weights and BatchNorm statistics it takes."""
        arrays = dict(self.executor.arg_dict, **self.executor.aux_dict)
        return {name: array.shape for name, array in arrays.items() if name != NOISE_INPUT}

    def set_params(self, arg_params, aux_params):
        """Copy parameters in (dicts of NDArrays, as `Module.get_params()` returns)."""
        for name, array in self.executor.arg_dict.items():
            if name != NOISE_INPUT:
                arg_params[name].copyto(array)
        for name, array in self.executor.aux_dict.items():
            aux_params[name].copyto(array)

    def generate(self, noise):
        """Images (B, C, 64, 64) in [-1, 1] for one batch of noise (B, Z, 1, 1)."""
        self.executor.forward(is_train=True, **{NOISE_INPUT: noise})  # batch statistics
        return self.executor.outputs[0].asnumpy()

    def sample(self, count, seed, progress=None):
        """`count` images and the noise they came from, for `seed` (dcgan/drawing.py, as is
        `progress`)."""
        return drawing.draw(self.generate, count, seed, self.batch_size, self.noise_dim,
                            progress)


def sampler_from_checkpoint(found, state, ctx, averaged=False):
    """A Sampler loaded with the generator of the checkpoint `found` (with its `state`, as
    run_state.open_checkpoint gives them, verified), or with its averaged weights (see
    averaging.py) when `averaged`."""
    sampler = Sampler(ctx, state['batch_size'], state['noise_dim'])
    expected = sampler.param_shapes()
    arg_params, aux_params = checkpoint.load_checked_params(
        os.path.join(found, 'generator.params'), expected)
    if averaged:
        average_path = os.path.join(found, checkpoint.AVERAGE)
        if not os.path.exists(average_path):
            raise checkpoint.CheckpointError('%s has no averaged generator (train with '
                                             '--average-generator)' % found)
        weights_only = {name: shape for name, shape in expected.items()
                        if name in sampler.executor.arg_dict}  # the average keeps no statistics
        arg_params, _ = checkpoint.load_checked_params(average_path, weights_only)
    sampler.set_params(arg_params, aux_params)
    return sampler
