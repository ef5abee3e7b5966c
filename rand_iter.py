"""RandIter: the generator's input, batches of standard-normal noise as an MXNet DataIter."""
import mxnet as mx


class RandIter(mx.io.DataIter):
    """Endless (or `num_batches`-long) batches of N(0, 1) noise shaped (batch_size, ndim, 1, 1).

    The single data input is named `rand`, the generator's input variable; there is no label.
    Noise comes from MXNet's generator on `ctx`, so `mx.random.seed(s)` makes it reproducible.
    With the default `num_batches=None` the iterator never ends, as the tutorial's does: the
    training loop pulls one batch per image batch with `next()`. Give `num_batches` to use it
    in a `for` loop; `reset()` starts the count again (the noise itself is never replayed).
    """

    def __init__(self, batch_size, ndim, ctx=None, num_batches=None):
        super().__init__(batch_size)
        self.ndim = ndim
        self.ctx = ctx or mx.cpu()
        self.num_batches = num_batches
        self.batches_served = 0
        self.provide_data = [mx.io.DataDesc('rand', (batch_size, ndim, 1, 1))]
        self.provide_label = []

    def reset(self):
        self.batches_served = 0

    def iter_next(self):
        if self.num_batches is not None and self.batches_served >= self.num_batches:
            return False
        self.batches_served += 1
        return True

    def getdata(self):
        shape = self.provide_data[0].shape
        return [mx.nd.random.normal(0, 1.0, shape=shape, ctx=self.ctx)]

    def getlabel(self):
        return []

    def getpad(self):
        return 0
