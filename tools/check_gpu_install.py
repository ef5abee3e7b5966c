"""Check, on any machine, which GPUs an MXNet library runs on and that the GPU build finds
every library it needs.

    python tools/check_gpu_install.py                      # the installed MXNet
    python tools/check_gpu_install.py --library PATH       # any libmxnet.so

Both print the GPU code the library carries (cubins for sm_XY, PTX for compute_XY, read from
its .nv_fatbin section by dcgan/gpu_code.py) and, for the compute capabilities of today's data
centre and desktop cards, whether it runs there. For the installed MXNet it then asks the
dynamic loader (ldd) to resolve everything libmxnet.so links against, looking in the folders of
the CUDA wheels that requirements.txt installs (as dcgan/mxnet_setup.py makes the program do),
and prints where each library comes from. The NVIDIA driver's own libcuda.so.1 can only come
from an installed driver, so on a machine without one it is reported and expected. Exit status
0: the library was read and nothing else is missing.
"""
import on_path  # noqa: F401  (first: the repository on sys.path, for dcgan/)
# Then: refuses a Python MXNet cannot run, in one line, as every command here does.
from dcgan import mxnet_setup

import os
import re
import subprocess
import sys

from dcgan import gpu_code
from dcgan.cli import OneLineArgumentParser

DRIVER_LIBRARY = 'libcuda.so.1'
_LDD_LINE = re.compile(r'^\s*(\S+)\s+=>\s+(not found|\S+)')


def parse_ldd(text):
    """{library: resolved path, or None when not found} from ldd's output."""
    resolved = {}
    for line in text.splitlines():
        match = _LDD_LINE.match(line)
        if match:
            resolved[match.group(1)] = None if match.group(2) == 'not found' else match.group(2)
    return resolved


def resolve(library, wheel_dirs):
    environment = dict(os.environ)
    environment['LD_LIBRARY_PATH'] = os.pathsep.join(
        wheel_dirs + [p for p in environment.get('LD_LIBRARY_PATH', '').split(os.pathsep) if p])
    result = subprocess.run(['ldd', library], capture_output=True, text=True, env=environment)
    return parse_ldd(result.stdout)


def print_gpu_code(library):
    """Print what `library` carries and where it runs; returns its GpuCode."""
    carried = gpu_code.read(library)
    print(library)
    print('  GPU code: %s' % carried.describe())
    if carried:
        for (major, minor), cards in gpu_code.CAPABILITIES_SHOWN:
            print('  compute capability %-5s %-13s %s' % (
                '%d.%d' % (major, minor),
                'runs' if carried.runs_on((major, minor)) else 'DOES NOT RUN', cards))
    return carried


def check_libraries(library):
    """Print where each library libmxnet.so links against resolves; 1 if any is missing."""
    found = mxnet_setup.cuda_wheel_libraries()
    wheel_dirs = sorted({os.path.dirname(path) for path in found.values()})
    resolved = resolve(library, wheel_dirs)
    for name, path in resolved.items():
        note = path or ('not found: the NVIDIA driver\'s library, expected where no driver '
                        'is installed' if name == DRIVER_LIBRARY else 'NOT FOUND')
        print('  %-28s %s' % (name, note))
    missing = [name for name, path in resolved.items() if path is None
               and name != DRIVER_LIBRARY]
    if missing:
        print('Missing: %s. Install them with: pip install -r requirements.txt'
              % ', '.join(missing))
        return 1
    print('Every library resolves%s.' % (
        '' if resolved.get(DRIVER_LIBRARY) else ' except the driver\'s ' + DRIVER_LIBRARY))
    return 0


def main(argv=None):
    parser = OneLineArgumentParser(prog='check_gpu_install.py', description=__doc__.split(
        '\n\n')[0])
    parser.add_argument('--library', metavar='PATH',
                        help='report on this libmxnet.so instead of the installed MXNet\'s')
    args = parser.parse_args(argv)
    library = args.library or gpu_code.installed_library()
    if library is None:
        sys.exit('error: MXNet is not installed here (pip install -r requirements.txt)')
    try:
        carried = print_gpu_code(library)
    except gpu_code.GpuCodeError as e:
        sys.exit('error: %s' % e)
    if args.library:
        return 0
    if not carried:
        print('This is MXNet\'s CPU build: it needs no CUDA library.')
        return 0
    return check_libraries(library)


if __name__ == '__main__':
    sys.exit(main())
