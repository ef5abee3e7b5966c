"""An exponential moving average of the generator's weights, kept beside training.

Off by default (the tutorial has none). Averaging the weights of the last stretch of
iterations smooths out the generator's iteration-to-iteration swings, which in a GAN are
large. The decay warms up as in TensorFlow's ExponentialMovingAverage,

    decay_t = min(decay, (1 + t) / (10 + t)),

so that early weights are forgotten fast: with a plain 0.999 from iteration 0, a third of
the average after one epoch (1,094 iterations) would still be the random initialisation.
The default decay, 0.99, is reached at iteration 890; from there on the average spans about
the last 100 iterations. It is the study's choice (average_study.py, README "Measuring
quality"): in two one-epoch runs, averages over about 100 iterations (this one, 0.999 with
the warm-up, 0.99 constant) scored alike and best, longer ones (0.995 to 0.999 constant)
worse, up to worse than the generator itself.

Training never reads the average: it is used only to draw samples and to score them.
"""
from dcgan.framework import mx

DEFAULT_DECAY = 0.99


class GeneratorAverage:
    """The running average of a generator Module's trainable parameters (on its device)."""

    def __init__(self, generator, decay, params=None, updates=0, warmup=True):
        self.decay = decay
        self.warmup = warmup
        self.updates = updates
        group = generator._exec_group
        self.names = list(group.param_names)
        source = params or {name: arrays[0] for name, arrays in
                            zip(self.names, group.param_arrays)}
        ctx = group.param_arrays[0][0].context
        self.params = {name: source[name].copyto(ctx) for name in self.names}

    def current_decay(self):
        if self.warmup:
            return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        # A constant decay with the start-up bias removed (as Adam does for its moments):
        # the average of w_1..w_t with weights decay^(t-i), normalised; 0 at the first update.
        power = self.decay ** (self.updates + 1)
        return (self.decay - power) / (1.0 - power)

    def update(self, generator):
        """Fold in the generator's weights as they are after its latest update."""
        decay = self.current_decay()
        for name, arrays in zip(self.names, generator._exec_group.param_arrays):
            # average = decay * average + (1 - decay) * weights, in one pass over memory:
            # SGD's update computes (1 - lr * wd) * w - lr * rescale_grad * g. Six times
            # faster than the same arithmetic as three NDArray operations, and equal.
            average = self.params[name]
            mx.nd.sgd_update(average, arrays[0], lr=1.0, wd=1.0 - decay,
                             rescale_grad=-(1.0 - decay), out=average)
        self.updates += 1

    def arg_params(self):
        """The averaged weights as {name: NDArray on the CPU}, as `Module.get_params()` gives."""
        return {name: array.copyto(mx.cpu()) for name, array in self.params.items()}
