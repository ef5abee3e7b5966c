"""Projection: for a target image, the noise z whose image the generator draws nearest to it
(sample.py --project). The tutorial's own mechanism turned around: the generator bound with
`inputs_need_grad=True`, as the training loop binds the discriminator to feed the generator,
gives the gradient of a loss on its image with respect to its input; z moves along it.

    loss      the mean squared difference of the pixels in [-1, 1]
    optimiser Adam on z (StyleGAN2-ADA's projector's choice; plain gradient steps were slower
              to settle), the learning rate ramped down along a cosine over the last quarter
    sphere    after every step each z is put back on the sphere of radius sqrt(Z), where
              nearly all of the standard normal noise the generator learned from lies: a z
              far from it is an input the generator never saw, and with BatchNorm on the
              batch's own statistics (below) it would change the other images of its batch
    starts    each target is begun from STARTS random points; after PROBE_STEPS steps the
              nearest goes on alone (the loss has many valleys: restarts help)

BatchNorm. The project draws with each batch's own statistics, in batches of the run's batch
size (dcgan/sampling.py). A projection is found the same way: the targets are optimised
together, a batch at a time, with a short batch filled with typical noise (as
latent.draw_noise fills one). So a z is found for the company it was found in; drawn again
among other noise (a walk, the arithmetic) its image differs a little, the more the further
its batch's statistics are from a typical batch's. Keeping every z on the sphere keeps those
statistics typical: one target alone, in a batch of 63 fillers, is drawn again much as found.
The weights are never changed: their gradients are not even computed.
"""
import math

import numpy as np

from dcgan.framework import mx
from dcgan.sampling import NOISE_INPUT

STEPS = 300
STARTS = 4
PROBE_STEPS = 50
LEARNING_RATE = 0.1
BETAS = (0.9, 0.999)
EPSILON = 1e-8
RAMP_DOWN = 0.25        # the last quarter of the steps, the rate ramped down to zero (cosine)
FRAMES = 30             # frames of the optimisation kept for the GIF


def image_loss_gradient(images, targets):
    """(each image's mean squared difference from its target, the gradient of their sum
    with respect to the images)."""
    difference = images - targets
    per_image = difference[0].size
    return (difference ** 2).reshape(len(images), -1).mean(axis=1), 2 * difference / per_image


def on_sphere(z):
    """Each row of `z` (N, Z) scaled to the norm sqrt(Z)."""
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return (z * math.sqrt(z.shape[1]) / np.maximum(norms, 1e-12)).astype(np.float32)


def learning_rate(step, steps):
    """The rate at `step` (0-based) of `steps`: constant, then a cosine ramp to zero."""
    left = 1 - step / steps
    return LEARNING_RATE * (1.0 if left > RAMP_DOWN else
                            0.5 - 0.5 * math.cos(math.pi * left / RAMP_DOWN))


class Projector:
    """A generator (its symbol and weights) bound for its input's gradient, in batches of
    `batch_size`; `project` finds the noise of targets."""

    def __init__(self, symbol, arg_params, aux_params, ctx, batch_size, noise_dim):
        self.batch_size, self.noise_dim = batch_size, noise_dim
        weights = [name for name in symbol.list_arguments() if name != NOISE_INPUT]
        self.module = mx.mod.Module(symbol, data_names=(NOISE_INPUT,), label_names=None,
                                    context=ctx, fixed_param_names=weights)
        self.module.bind(data_shapes=[(NOISE_INPUT, (batch_size, noise_dim, 1, 1))],
                         for_training=True, inputs_need_grad=True)
        self.module.set_params(arg_params, aux_params)

    def generate(self, noise):
        """Images (B, C, H, W) of one batch of noise (B, Z, 1, 1), the batch's statistics."""
        self.module.forward(mx.io.DataBatch([mx.nd.array(noise)]), is_train=True)
        return self.module.get_outputs()[0].asnumpy()

    def _losses_and_gradient(self, z, targets, active):
        """One batch: the images of z (B, Z), their losses against `targets`, and the gradient
        of the active rows' losses with respect to z (B, Z)."""
        images = self.generate(z.reshape(self.batch_size, self.noise_dim, 1, 1))
        losses, image_gradient = image_loss_gradient(images, targets)
        image_gradient[~active] = 0  # the fillers are company, not targets
        self.module.backward([mx.nd.array(image_gradient)])
        gradient = self.module.get_input_grads()[0].asnumpy().reshape(z.shape)
        return images, losses, gradient

    def _optimise_batch(self, z, targets, active, steps, frames=None):
        """Adam on the active rows of z for `steps` steps; returns (z, images, losses) at the
        end. `frames`, a list, gets the images of every steps // FRAMES step."""
        first, second = np.zeros_like(z), np.zeros_like(z)
        every = max(1, steps // FRAMES)
        for step in range(steps):
            images, _, gradient = self._losses_and_gradient(z, targets, active)
            if frames is not None and step % every == 0:
                frames.append(images)
            first = BETAS[0] * first + (1 - BETAS[0]) * gradient
            second = BETAS[1] * second + (1 - BETAS[1]) * gradient ** 2
            corrected = (first / (1 - BETAS[0] ** (step + 1))) / (
                np.sqrt(second / (1 - BETAS[1] ** (step + 1))) + EPSILON)
            moved = on_sphere(z - learning_rate(step, steps) * corrected)
            z = np.where(active[:, None], moved, z)
        images, losses, _ = self._losses_and_gradient(z, targets, active)
        if frames is not None:
            frames.append(images)
        return z, images, losses

    def _optimise(self, z, targets, steps, filler, frames=None):
        """_optimise_batch over all rows of z (N, Z), a batch at a time, a short batch filled
        with rows of `filler`; returns (z, images, losses) of the N rows."""
        found = [[], [], []]
        for start in range(0, len(z), self.batch_size):
            rows = slice(start, start + self.batch_size)
            count = len(z[rows])
            short = self.batch_size - count
            batch_z = np.concatenate([z[rows], filler[:short]])
            batch_targets = np.concatenate([targets[rows], np.zeros(
                (short,) + targets.shape[1:], np.float32)])
            active = np.arange(self.batch_size) < count
            results = self._optimise_batch(batch_z, batch_targets, active, steps,
                                           frames if start == 0 else None)
            for kept, result in zip(found, results):
                kept.append(result[:count])
        return tuple(np.concatenate(kept) for kept in found)

    def project(self, targets, seed, steps=STEPS, starts=STARTS):
        """The noise of `targets` (N, C, H, W) in [-1, 1]: (z (N, Z) float32, their images,
        each image's mean squared error, the frames of the first batch's optimisation)."""
        targets = np.asarray(targets, np.float32)
        rng = np.random.RandomState(seed)
        filler = on_sphere(rng.standard_normal((self.batch_size, self.noise_dim)))
        if starts > 1:  # every start probed, the nearest of each target goes on
            tried = on_sphere(rng.standard_normal((len(targets) * starts, self.noise_dim)))
            z, _, losses = self._optimise(tried, np.repeat(targets, starts, axis=0),
                                          min(PROBE_STEPS, steps), filler)
            best = losses.reshape(len(targets), starts).argmin(axis=1)
            z = z.reshape(len(targets), starts, -1)[np.arange(len(targets)), best]
            steps -= min(PROBE_STEPS, steps)
        else:
            z = on_sphere(rng.standard_normal((len(targets), self.noise_dim)))
        frames = []
        z, images, losses = self._optimise(z, targets, steps, filler, frames)
        return z, images, losses, np.stack(frames)


def projector_from_checkpoint(found, state, ctx, averaged=False):
    """A Projector of the generator of the checkpoint `found` (verified, with its `state`)."""
    import symbols
    from dcgan.sampling import sampler_from_checkpoint
    sampler = sampler_from_checkpoint(found, state, ctx, averaged)  # the checked weights
    executor = sampler.executor
    arg_params = {name: array for name, array in executor.arg_dict.items()
                  if name != NOISE_INPUT}
    return Projector(symbols.generator_symbol(), arg_params, dict(executor.aux_dict), ctx,
                     state['batch_size'], state['noise_dim'])
