"""RandIter: the generator's input, batches of standard-normal noise as an MXNet DataIter."""
import numpy as np

from dcgan.framework import mx


def batch_seed(seed, position, stream=0):
    """The MXNet seed for noise batch `position` of a run seeded with `seed` (well mixed);
    `stream` tells apart workers that train together, each on its own noise."""
    entropy = [seed, position] + ([stream] if stream else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)


class RandIter(mx.io.DataIter):
    """Endless (or `num_batches`-long) batches of N(0, 1) noise shaped (batch_size, ndim, 1, 1).

    The single data input is named `rand`, the generator's input variable; there is no label.
    Noise comes from MXNet's generator on `ctx`:

    - with `seed=None` (the tutorial's way) it continues MXNet's global stream, so it is
      reproducible under `mx.random.seed`, and `reset()` never replays a batch;
    - with a `seed`, batch number k is drawn right after seeding MXNet with
      `batch_seed(seed, k)`. Every batch is then a function of (seed, k) alone, which is what
      lets a resumed run draw exactly the noise an uninterrupted one would: pass `start=k`.

    With the default `num_batches=None` the iterator never ends, as the tutorial's does: the
    training loop pulls one batch per image batch with `next()`. Give `num_batches` to use it
    in a `for` loop; `reset()` goes back to batch `start`.
    """

    def __init__(self, batch_size, ndim, ctx=None, num_batches=None, seed=None, start=0,
                 stream=0):
        super().__init__(batch_size)
        self.ndim = ndim
        self.ctx = ctx or mx.cpu()
        self.num_batches = num_batches
        self.seed = seed
        self.stream = stream
        self.start = start
        self.position = start  # the number of the next batch
        self.provide_data = [mx.io.DataDesc('rand', (batch_size, ndim, 1, 1))]
        self.provide_label = []

    @property
    def batches_served(self):
        return self.position - self.start

    def reset(self):
        self.position = self.start

    def iter_next(self):
        if self.num_batches is not None and self.batches_served >= self.num_batches:
            return False
        self.position += 1
        return True

    def getdata(self):
        if self.seed is not None:
            mx.random.seed(batch_seed(self.seed, self.position - 1, self.stream), ctx=self.ctx)
        shape = self.provide_data[0].shape
        return [mx.nd.random.normal(0, 1.0, shape=shape, ctx=self.ctx)]

    def getlabel(self):
        return []

    def getpad(self):
        return 0
