"""One worker of the distributed test: the program's Modules on a shared dist_sync kvstore.

Run by tests/test_distributed.py with MXNet's DMLC_* variables set; trains a few iterations
on its own batches and saves its final parameters to the folder given.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dcgan.framework import mx  # noqa: E402

import dcgan_mnist as app  # noqa: E402
from helpers import DIST_BATCH as BATCH, worker_batches  # noqa: E402


def main(out_dir):
    kvstore = mx.kv.create('dist_sync')
    mx.random.seed(3)
    generator = app.build_generator(mx.cpu(), BATCH, 100, app.LEARNING_RATE, app.BETA1,
                                    app.INIT_SIGMA, kvstore)
    discriminator = app.build_discriminator(mx.cpu(), BATCH, app.LEARNING_RATE, app.BETA1,
                                            app.INIT_SIGMA, kvstore)
    judge = app.build_judge(discriminator)
    for real, noise in worker_batches(kvstore.rank):
        app.train_step(generator, discriminator, mx.nd.array(real), mx.nd.array(noise), judge)
    mx.nd.waitall()
    for name, module in (('generator', generator), ('discriminator', discriminator)):
        module.save_params(os.path.join(out_dir, '%s-%d.params' % (name, kvstore.rank)))
    mx.nd.waitall()


if __name__ == '__main__':
    main(sys.argv[1])
