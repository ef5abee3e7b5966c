"""How fast, and in how much memory: the program's training step beside the tutorial's, a
PyTorch peer and the machine's fastest matrix product, each measured in a process of its own.

    python tools/benchmark.py             # about 10 minutes; a table, and tools/benchmark.json
    python tools/benchmark.py --repeat 1 --iters 3
    python tools/benchmark.py --profile   # where one iteration's time goes (oneDNN's own log)
    python tools/benchmark.py --profile bfloat16   # the same, for --dtype bfloat16
    python tools/benchmark.py --pipeline  # --data's image pipeline alone, into benchmark.json

Two frameworks in one process are no fair race: their OpenMP runtimes fight, and PyTorch
inside a process that had loaded MXNet ran up to 1.9 times slower than alone. So every
contender runs in a fresh `python tools/benchmark.py --contender NAME` that imports only what
measures, with the thread setting stated beside its row; each is run `--repeat` times,
interleaved, and the table gives the median run with the spread of all runs. A run's time
is the median of `--iters` iterations after `--warmup`, at batch 64 on the full networks.

The contenders (CONTENDERS): the program's step; the tutorial's step as it is written, with
the program's threads; the tutorial as shipped (MXNet's own thread choice, its preparation
of all 70,000 images at once), with its preparation time and peak memory; the same networks
and passes in PyTorch eager (optional: `pip install torch==2.13.0`; left out without it);
the program with --dtype bfloat16 and PyTorch under bfloat16 autocast; and the float32 matrix
products whose best is the peak the steps are measured against.

Once after them (ANALYSES), where the program's iteration goes: the milliseconds of each pass
(G and D, forward and backward) and its GFLOP/s, from MXNet's own profiler; and its resident
memory stage by stage along a start-up. `--profile` goes one level down, to oneDNN's
primitives (each convolution's kernel, layout and speed).

The parts: tools/benchmark_contenders.py (the step as written, the counting, each
measurement), tools/benchmark_harness.py (a contender in its own process, the repetitions),
tools/benchmark_pipeline.py (--pipeline), tools/benchmark_profile.py (--profile); this file
the command, the report and its goals.
"""
import on_path  # noqa: F401  (first: the repository on sys.path, for dcgan/)
# Then: refuses a Python MXNet cannot run (in one line), sets the thread defaults before numpy
# and MXNet load, and gives numpy back the aliases MXNet uses. MXNet itself is imported by
# each measurement that needs it, through dcgan.framework.
from dcgan import mxnet_setup  # noqa: F401

import argparse
import collections
import json
import os
import statistics
import sys

# The tutorial as shipped runs with MXNet's own thread choice: its parent leaves
# OMP_NUM_THREADS unset and sets this, and the default mxnet_setup gave is taken back here,
# before MXNet loads (OpenMP reads the variable once, then).
from benchmark_harness import MXNET_OWN_THREADS  # noqa: E402  (numpy and MXNet not loaded yet)
if os.environ.pop(MXNET_OWN_THREADS, None):
    os.environ.pop('OMP_NUM_THREADS', None)

import benchmark_pipeline  # noqa: E402
import benchmark_profile  # noqa: E402
from benchmark_contenders import (ANALYSES, CONTENDERS, MATMUL_SIZE, MEASUREMENTS,  # noqa: E402
                                  PEAKS)
from benchmark_harness import cpu_name, run_contender  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
GOAL_VS_TORCH = 0.67       # the program's step at most this share of PyTorch's time
GOAL_SHARE_OF_PEAK = 0.85  # and at least this share of the peak
GOAL_STARTUP_MB = 1000     # start-up peak resident memory at most this
GOAL_BFLOAT16_VS_AUTOCAST = 0.67  # --dtype bfloat16's step at most this share of PyTorch's
GOAL_BFLOAT16_VS_FLOAT32 = 0.5    # bfloat16 autocast step, and of the program's float32 step


def measurements():
    """{contender name: its measurement}: the contenders' and analyses', and the pipeline's."""
    return dict(MEASUREMENTS, pipeline=benchmark_pipeline.measure_pipeline)


# ============================== running the contenders ==============================

def run_all(args, log):
    """{name: [result of each repetition]}, the repetitions interleaved so that a slow spell
    of the machine falls on all contenders alike."""
    runs = collections.defaultdict(list)
    jobs = [(name, threads) for name, _, threads, _ in CONTENDERS] + \
        [(name, threads) for name, threads, _ in PEAKS]
    for repetition in range(args.repeat):
        for name, threads in jobs:
            log('run %d/%d: %s' % (repetition + 1, args.repeat, name))
            result = run_contender(name, threads, args)
            if result is not None:
                runs[name].append(result)
    for name, threads, _ in ANALYSES:
        log('once: %s' % name)
        runs[name].append(run_contender(name, threads, args))
    return runs




# ============================== the report ==============================

def spread(values):
    """(median, lowest, highest)."""
    return statistics.median(values), min(values), max(values)


def summarise(runs, batch_size):
    """The report: each contender's median run with the spread over runs, the peak, goals."""
    gflop = runs['program'][0]['iteration_gflop']
    peaks = {name: spread([r['gflops'] for r in runs[name]]) + (runs[name][0]['version'],)
             for name, _, _ in PEAKS if runs.get(name)}
    peak_name = max(peaks, key=lambda name: peaks[name][0])
    peak = peaks[peak_name][0]
    torch_seconds = (spread([statistics.median(r['times']) for r in runs['pytorch']])[0]
                     if runs.get('pytorch') else None)
    rows = []
    for name, label, _, _ in CONTENDERS:
        if name == 'startup' or not runs.get(name):
            continue
        seconds, low, high = spread([statistics.median(r['times']) for r in runs[name]])
        first = runs[name][0]
        row = {'contender': name, 'what': '%s (%s, %s)' % (label, first['version'],
                                                            first['device']),
               'threads': first['threads'], 'seconds_per_iter': seconds,
               'seconds_per_iter_range': [low, high], 'runs': len(runs[name]),
               'images_per_second': batch_size / seconds, 'gflop_per_second': gflop / seconds,
               # The peak is float32 matrix products': a bfloat16 step is not held to it.
               'share_of_peak': None if 'bfloat16' in name else gflop / seconds / peak,
               'vs_torch': seconds / torch_seconds if torch_seconds else None}
        for key in ('prep_seconds', 'peak_rss_mb'):
            if key in first:
                row[key] = statistics.median(r[key] for r in runs[name])
        rows.append(row)
    refused = refuse_shares_over_the_peak(rows, peak)
    startup = runs['startup']
    report = {'batch_size': batch_size, 'iteration_gflop': gflop, 'peak_gflops': peak,
              'peak_source': peaks[peak_name][3],
              'matmul_gflops': {name: {'median': m, 'range': [lo, hi], 'what': what}
                                for name, (m, lo, hi, what) in peaks.items()},
              'steps': rows, 'peak_refused': refused,
              'startup_prep_seconds': statistics.median(r['prep_seconds'] for r in startup),
              'startup_peak_rss_mb': spread([r['peak_rss_mb'] for r in startup]),
              'cpu': cpu_name(), 'usable_cpus': os.cpu_count()}
    if runs.get('passes'):
        report['passes'] = runs['passes'][0]
    if runs.get('memory'):
        report['memory'] = runs['memory'][0]
    program = rows[0]
    report['goals'] = {
        'step_vs_torch': [program['vs_torch'], GOAL_VS_TORCH],
        'share_of_peak': [program['share_of_peak'], GOAL_SHARE_OF_PEAK],
        'startup_peak_rss_mb': [report['startup_peak_rss_mb'][0], GOAL_STARTUP_MB]}
    seconds = {row['contender']: row['seconds_per_iter'] for row in rows}
    if 'program-bfloat16' in seconds:
        report['goals']['bfloat16_vs_autocast'] = [
            seconds['program-bfloat16'] / seconds['pytorch-bfloat16']
            if 'pytorch-bfloat16' in seconds else None, GOAL_BFLOAT16_VS_AUTOCAST]
        report['goals']['bfloat16_vs_float32'] = [
            seconds['program-bfloat16'] / seconds['program'], GOAL_BFLOAT16_VS_FLOAT32]
    return report


def refuse_shares_over_the_peak(rows, peak):
    """A step faster than the peak means the peak is no ceiling on this machine (a step's
    convolutions can outrun a 4096x4096 product): every share is then withdrawn, and the
    reason returned (None when all are within it)."""
    over = [row for row in rows if row['share_of_peak'] is not None and row['share_of_peak'] > 1]
    if not over:
        return None
    for row in rows:
        row['share_of_peak'] = None
    return ('%s ran at %.0f GFLOP/s, above the peak measured (%.0f GFLOP/s): the peak is no '
            'ceiling here, so no share of it is given' % (over[0]['contender'],
                                                          over[0]['gflop_per_second'], peak))


def print_report(report):
    print('%s; batch %d; one iteration = %.0f GFLOP; peak %.0f GFLOP/s (%s, %dx%d float32)'
          % (report['cpu'], report['batch_size'], report['iteration_gflop'],
             report['peak_gflops'], report['peak_source'], MATMUL_SIZE, MATMUL_SIZE))
    print('%-52s %19s %6s %8s %8s  %s' % ('', 's/iter (range)', 'img/s', 'of peak', 'vs torch',
                                          'threads'))
    for row in report['steps']:
        low, high = row['seconds_per_iter_range']
        share = row['share_of_peak']
        print('%-52s %6.3f (%.2f-%.2f) %6.1f %8s %8s  %s'
              % (row['what'][:52], row['seconds_per_iter'], low, high,
                 row['images_per_second'], '-' if share is None else '%.0f%%' % (100 * share),
                 '%.2fx' % row['vs_torch'] if row['vs_torch'] else '-', row['threads']))
        if 'peak_rss_mb' in row:
            print('%52s data preparation %.1f s, peak resident memory %.0f MB'
                  % ('', row['prep_seconds'], row['peak_rss_mb']))
    if report.get('peak_refused'):
        print('measurement error: %s' % report['peak_refused'])
    for name, found in report['matmul_gflops'].items():
        print('matrix product: %-40s %6.0f GFLOP/s (%.0f-%.0f)'
              % (found['what'], found['median'], *found['range']))
    median, low, high = report['startup_peak_rss_mb']
    print('the program\'s start-up: data ready in %.1f s; peak resident memory %.0f MB '
          '(%.0f-%.0f)' % (report['startup_prep_seconds'], median, low, high))
    if 'passes' in report:
        print_passes(report['passes'], None if report.get('peak_refused')
                     else report['peak_gflops'])
    if 'memory' in report:
        print_memory(report['memory'])
    for goal, (value, target) in report['goals'].items():
        met = value is not None and (value >= target if goal == 'share_of_peak'
                                     else value <= target)
        print('goal %-20s %s (target %s): %s' % (goal, '-' if value is None else '%.2f' % value,
                                                 target, 'met' if met else 'NOT met'))


def print_passes(found, peak):
    """The passes' milliseconds and speed; their share of `peak` unless it is None (refused)."""
    print('where an iteration of the program goes (MXNet\'s profiler; %.0f ms wall):'
          % found['wall_ms'])
    for row in found['passes']:
        rate = ''
        if row['gflop']:
            gflops = row['gflop'] / row['ms'] * 1000
            rate = '%5.0f GFLOP/s' % gflops + (', %3.0f%% of peak' % (100 * gflops / peak)
                                               if peak else '')
        print('  %-28s %7.1f ms  %s' % (row['pass'], row['ms'], rate))


def print_memory(found):
    print('resident memory along the program\'s start-up (parameters: G %.1f M, D %.1f M; '
          'each copy of both %.0f MB):' % (found['parameters']['generator'] / 1e6,
                                          found['parameters']['discriminator'] / 1e6,
                                          4 * sum(found['parameters'].values()) / 2 ** 20))
    before = 0
    for what, mb in found['stages']:
        print('  %-52s %6.0f MB  %+6.0f' % (what, mb, mb - before))
        before = mb


# ============================== main ==============================

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--json', default=os.path.join(HERE, 'benchmark.json'))
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--profile', nargs='?', const='float32', choices=('float32', 'bfloat16'),
                        help='profile the program\'s step (in bfloat16: --profile bfloat16)')
    parser.add_argument('--pipeline', action='store_true',
                        help='measure --data\'s image pipeline alone and add it to --json')
    parser.add_argument('--contender', choices=sorted(measurements()), help=argparse.SUPPRESS)
    for name in ('--pipeline-folder', '--pipeline-cache'):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument('--pipeline-threads', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from dcgan import mnist
    args.data_dir = args.data_dir or mnist.default_data_dir()
    if args.contender:
        result = measurements()[args.contender](args)
        if result is not None:
            result['omp_num_threads'] = os.environ.get('OMP_NUM_THREADS')
        print(json.dumps(result))
        return
    if args.profile:
        benchmark_profile.profile(args)
        return
    if args.pipeline:
        found = benchmark_pipeline.run_pipeline(args)
        benchmark_pipeline.print_pipeline(found)
        with open(args.json) as f:
            report = json.load(f)
        report['pipeline'] = found
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print('wrote %s' % args.json)
        return
    report = summarise(run_all(args, lambda line: print(line, file=sys.stderr, flush=True)),
                       args.batch_size)
    print_report(report)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print('wrote %s' % args.json)


if __name__ == '__main__':
    main()
