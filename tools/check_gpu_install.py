"""Check, on any machine, that the GPU build of MXNet will find every library it needs.

    python tools/check_gpu_install.py

It asks the dynamic loader (ldd) to resolve everything libmxnet.so links against, looking in
the folders of the CUDA wheels that requirements.txt installs (as dcgan/mxnet_setup.py makes the
program do), and prints where each library comes from. The NVIDIA driver's own libcuda.so.1
can only come from an installed driver, so on a machine without one it is reported and
expected. Exit status 0: nothing else is missing.
"""
import on_path  # noqa: F401  (first: the repository on sys.path, for dcgan/)
# Then: refuses a Python MXNet cannot run, in one line, as every command here does.
from dcgan import mxnet_setup

import importlib.util
import os
import re
import subprocess
import sys

DRIVER_LIBRARY = 'libcuda.so.1'
_LDD_LINE = re.compile(r'^\s*(\S+)\s+=>\s+(not found|\S+)')


def libmxnet_path():
    """Where the installed MXNet's libmxnet.so is, found without importing MXNet."""
    spec = importlib.util.find_spec('mxnet')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], 'libmxnet.so')
    return path if os.path.isfile(path) else None


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


def main():
    library = libmxnet_path()
    if library is None:
        sys.exit('error: MXNet is not installed here (pip install -r requirements.txt)')
    found = mxnet_setup.cuda_wheel_libraries()
    wheel_dirs = sorted({os.path.dirname(path) for path in found.values()})
    resolved = resolve(library, wheel_dirs)
    cuda = [name for name in resolved if any(name.startswith(prefix) for prefix in
                                             mxnet_setup.CUDA_LIBRARIES + ('libcuda.',))]
    print('%s (%s)' % (library, 'GPU build' if cuda else 'CPU build'))
    if not cuda:
        print('This is MXNet\'s CPU build: it needs no CUDA library.')
        return 0
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


if __name__ == '__main__':
    sys.exit(main())
