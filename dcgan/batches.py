"""The one interface both sources of real images implement (mnist.MnistBatches, the tutorial's
MNIST; own_images.RecordBatches, a RecordIO file's images): what the loop asks of its data.

Batches are the tutorial's: one fixed order, shuffled once with numpy's RandomState(ORDER_SEED)
(the tutorial's np.random.seed(1) before its permutation), the same every epoch; the last
batch of an epoch completed from the start and saying so in its `pad` (NDArrayIter's
'pad'). Worker k of n (distributed training) reads its own share, every worker the same number
of images, so that all run the same number of batches. A third source is one more class of
this shape.
"""
from typing import Protocol

ORDER_SEED = 1  # the tutorial's np.random.seed(1) before its permutation


class Batches(Protocol):
    num_data: int        # this worker's images an epoch
    provide_data: list   # [mx.io.DataDesc('data', (batch, 3, size, size))]

    def reset(self):
        """An epoch's start: its first batch next."""

    def skip(self, batches):
        """Move past `batches` batches of the epoch (a resumed run's way back)."""

    def next(self):
        """The next batch, an mx.io.DataBatch of (batch, 3, size, size) images in [-1, 1];
        StopIteration at the epoch's end."""
