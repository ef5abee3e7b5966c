"""MXNet, imported the one way every command and part of this project imports it:

    from dcgan.framework import mx

mxnet_setup runs first (a Python MXNet can run, thread defaults before numpy and MXNet load,
numpy's removed aliases, the GPU build's CUDA libraries); then MXNet itself, or, when its native
library cannot load, one line saying why and what to do, and exit status 1.
"""
import sys

from dcgan import mxnet_setup

try:
    import mxnet as mx
except OSError as load_error:
    sys.exit('error: ' + mxnet_setup.explain_load_failure(load_error))

__all__ = ['mx']
