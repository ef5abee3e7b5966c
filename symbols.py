"""The DCGAN generator and discriminator as MXNet Symbols.

Both networks are the tutorial's, layer for layer and name for name, so that parameter
files and anyone reading the tutorial can map every array here to its line there:

    generator      rand (B, Z, 1, 1)  -> g1..g5 Deconvolution, gbn1..gbn4 BatchNorm,
                                         gact1..gact4 ReLU, gact5 tanh -> (B, 3, 64, 64)
    discriminator  data (B, 3, 64, 64) -> d1..d5 Convolution, dbn2..dbn4 BatchNorm,
                                         dact1..dact4 LeakyReLU, Flatten,
                                         dloss LogisticRegressionOutput -> (B, 1)

Every convolution has a 4x4 kernel and no bias; every BatchNorm keeps gamma fixed at 1.
"""
from dcgan.framework import mx

NOISE_DIM = 100        # Z, the length of the generator's input vector
IMAGE_CHANNELS = 3     # MNIST is grey, but the tutorial feeds it as three equal channels
IMAGE_SIZE = 64        # height and width of the images both networks work on

KERNEL = (4, 4)
NO_BIAS = True
FIX_GAMMA = True
# cuDNN refuses a BatchNorm eps below 1e-5; the tiny extra keeps it clear of that bound
# after float rounding, exactly as the tutorial does.
BN_EPS = 1e-5 + 1e-12
LEAKY_SLOPE = 0.2

GENERATOR_FILTERS = (1024, 512, 256, 128)        # g1..g4; g5 has IMAGE_CHANNELS filters
DISCRIMINATOR_FILTERS = (128, 256, 512, 1024)    # d1..d4; d5 has one filter


def _batch_norm(x, name):
    return mx.sym.BatchNorm(x, name=name, fix_gamma=FIX_GAMMA, eps=BN_EPS)


def generator_symbol(channels=IMAGE_CHANNELS):
    """The generator: noise `rand` (B, Z, 1, 1) to images (B, channels, 64, 64) in [-1, 1].

    g1 turns the 1x1 input into 4x4; each of g2..g5 doubles the size (stride 2, pad 1).
    Z (NOISE_DIM by default) is whatever shape `rand` is bound with.
    """
    x = mx.sym.Variable('rand')
    x = mx.sym.Deconvolution(x, name='g1', kernel=KERNEL, num_filter=GENERATOR_FILTERS[0],
                             no_bias=NO_BIAS)
    x = mx.sym.Activation(_batch_norm(x, 'gbn1'), name='gact1', act_type='relu')
    for layer, num_filter in enumerate(GENERATOR_FILTERS[1:], start=2):
        x = mx.sym.Deconvolution(x, name='g%d' % layer, kernel=KERNEL, stride=(2, 2),
                                 pad=(1, 1), num_filter=num_filter, no_bias=NO_BIAS)
        x = mx.sym.Activation(_batch_norm(x, 'gbn%d' % layer), name='gact%d' % layer,
                              act_type='relu')
    x = mx.sym.Deconvolution(x, name='g5', kernel=KERNEL, stride=(2, 2), pad=(1, 1),
                             num_filter=channels, no_bias=NO_BIAS)
    return mx.sym.Activation(x, name='gact5', act_type='tanh')


def discriminator_symbol():
    """The discriminator: images `data` (B, C, 64, 64) and `label` (B,) to P(real) (B, 1).

    d1..d4 halve the size (stride 2, pad 1) from 64x64 to 4x4; d5 reduces 4x4 to one logit,
    which `dloss` turns into a probability and trains with the logistic loss against `label`.
    d1 has no BatchNorm, as in the DCGAN paper. C is whatever shape `data` is bound with.
    """
    x = mx.sym.Variable('data')
    for layer, num_filter in enumerate(DISCRIMINATOR_FILTERS, start=1):
        x = mx.sym.Convolution(x, name='d%d' % layer, kernel=KERNEL, stride=(2, 2), pad=(1, 1),
                               num_filter=num_filter, no_bias=NO_BIAS)
        if layer > 1:
            x = _batch_norm(x, 'dbn%d' % layer)
        x = mx.sym.LeakyReLU(x, name='dact%d' % layer, act_type='leaky', slope=LEAKY_SLOPE)
    x = mx.sym.Convolution(x, name='d5', kernel=KERNEL, num_filter=1, no_bias=NO_BIAS)
    x = mx.sym.Flatten(x)
    label = mx.sym.Variable('label')
    return mx.sym.LogisticRegressionOutput(data=x, label=label, name='dloss')
