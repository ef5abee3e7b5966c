"""The requirement files: one version of each package wherever it is pinned; the GPU box's file
brings what the tests need; the file for inside NVIDIA's container adds only what the container
lacks, never MXNet or numpy, and pip resolves it beside a numpy that the container holds."""
import json
import os
import re
import subprocess
import sys

import pytest

from helpers import REPO

CPU, GPU, NGC = 'requirements-cpu.txt', 'requirements.txt', 'requirements-ngc.txt'
PIN = re.compile(r'^([A-Za-z0-9_.\-]+)==([^;\s]+)\s*(?:;\s*(.+))?$')


def pins(name):
    """{(package, marker or None): version} of file `name` and the files it includes."""
    found = {}
    with open(os.path.join(REPO, name)) as f:
        for line in f:
            line = line.split(' #')[0].strip()
            if not line or line.startswith('#'):
                continue
            if line.startswith('-r '):
                found.update(pins(line[3:].strip()))
                continue
            match = PIN.match(line)
            assert match, '%s: not an exact pin: %r' % (name, line)
            package, version, marker = match.groups()
            found[(package.lower().replace('_', '-'), marker)] = version
    return found


def versions(name):
    """{package: set of versions} of file `name`, over its markers."""
    found = {}
    for (package, _), version in pins(name).items():
        found.setdefault(package, set()).add(version)
    return found


def test_a_package_has_one_version_wherever_it_is_pinned():
    cpu, gpu = pins(CPU), pins(GPU)
    shared = set(cpu) & set(gpu)
    assert {package for package, _ in shared} >= {'numpy', 'matplotlib', 'opencv-python',
                                                  'onnx', 'tensorboard', 'pytest'}
    assert {key: gpu[key] for key in shared} == {key: cpu[key] for key in shared}
    ngc, everywhere = versions(NGC), versions(CPU)
    everywhere['opencv-python-headless'] = everywhere['opencv-python']  # the same build
    for package, found in ngc.items():
        assert found == everywhere[package], package


def test_the_gpu_box_gets_the_tests_and_the_notebook_kernel():
    for name in (GPU, NGC):
        assert {'pytest', 'hypothesis', 'ipykernel', 'nbclient', 'nbformat', 'onnx',
                'onnxruntime', 'tensorboardx'} <= set(versions(name)), name


def test_the_container_file_never_replaces_its_mxnet_or_numpy():
    assert not {package for package in versions(NGC)
                if package == 'numpy' or package.startswith('mxnet')}


@pytest.mark.skipif(sys.version_info[:2] != (3, 10), reason='the container\'s Python is 3.10, '
                    'and pip evaluates the files\' markers for the Python it runs on')
@pytest.mark.parametrize('held', ['1.24.4', '1.26.4'])
def test_pip_resolves_the_container_file_beside_the_containers_numpy(tmp_path, held):
    """As the README's command installs it inside the container (Python 3.10 there): numpy
    held by a constraint, as that command holds it."""
    constraint = tmp_path / 'held.txt'
    constraint.write_text('numpy==%s\n' % held)
    report = tmp_path / 'report.json'
    result = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--dry-run', '--ignore-installed',
         '--only-binary=:all:', '--report', str(report), '-r', os.path.join(REPO, NGC), '-c',
         str(constraint)],
        capture_output=True, text=True, timeout=600, cwd=REPO)
    if result.returncode != 0 and any(sign in result.stderr for sign in (
            'NewConnectionError', 'Temporary failure in name resolution', 'unreachable')):
        pytest.skip('pip cannot reach a package index here: %s'
                    % result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, result.stderr
    chosen = {item['metadata']['name'].lower(): item['metadata']['version']
              for item in json.loads(report.read_text())['install']}
    assert chosen['numpy'] == held
    assert not [package for package in chosen if package.startswith('mxnet')]
    assert chosen['pytest'] == versions(NGC)['pytest'].pop()
