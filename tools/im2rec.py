"""MXNet's own packer, tools/im2rec.py of the mxnet wheel, run after this project's MXNet setup:

    python tools/im2rec.py --list --recursive faces ~/faces    # faces.lst
    python tools/im2rec.py --pass-through faces ~/faces        # faces.rec and faces.idx

Its flags are MXNet's (--help). `python -m mxnet.tools.im2rec` itself works on Python 3.10
and 3.11, but not on 3.12, where numpy 1.26 lacks the aliases MXNet's import uses
(np.bool ...): dcgan/mxnet_setup.py gives them back first, as in every command here.
"""
import on_path  # noqa: F401  (the repository on sys.path)
from dcgan import mxnet_setup  # noqa: F401  (numpy's removed aliases, before MXNet loads)

import runpy  # noqa: E402

if __name__ == '__main__':
    runpy.run_module('mxnet.tools.im2rec', run_name='__main__', alter_sys=True)
