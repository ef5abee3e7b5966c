"""Running one of the benchmark's contenders in a fresh `python tools/benchmark.py --contender
NAME` (two frameworks in one process are no fair race), with the threads its row states; and
the machine's name for the report. Imports neither numpy nor MXNet: benchmark.py reads
MXNET_OWN_THREADS from here before they load."""
import json
import os
import subprocess
import sys

from dcgan import mxnet_setup

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'benchmark.py')
MXNET_OWN_THREADS = 'BENCHMARK_MXNET_OWN_THREADS'  # benchmark.py reads it before MXNet loads


# ============================== running the contenders ==============================

def contender_env(threads):
    """The environment of a contender's process: the program's threads, or MXNet's own."""
    environ = dict(os.environ)
    if threads == 'mxnet':
        environ.pop('OMP_NUM_THREADS', None)
        environ[MXNET_OWN_THREADS] = '1'
    else:
        environ.setdefault('OMP_NUM_THREADS', str(mxnet_setup.usable_cpu_count()))
    return environ


def thread_note(result):
    """How the contender's threads were set, from what its own process saw."""
    if result.get('threads'):
        return result['threads']
    if result['omp_num_threads'] is None:
        return 'MXNet\'s own choice (OMP_NUM_THREADS unset)'
    return 'OMP_NUM_THREADS=%s' % result['omp_num_threads']


def run_contender(name, threads, args):
    """Run one contender in a fresh process; its result dict, or None when it cannot run."""
    result = subprocess.run(
        [sys.executable, SCRIPT, '--contender', name, '--iters',
         str(args.iters), '--warmup', str(args.warmup), '--batch-size', str(args.batch_size),
         '--data-dir', args.data_dir], capture_output=True, text=True, env=contender_env(threads))
    if result.returncode != 0:
        raise RuntimeError('%s failed: %s' % (name, result.stderr.strip().splitlines()[-1:]))
    found = json.loads(result.stdout.strip().splitlines()[-1])
    if found is not None:
        found['threads'] = thread_note(found)
    return found


def cpu_name():
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        return 'unknown'
