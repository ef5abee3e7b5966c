"""One level down (python tools/benchmark.py --profile [bfloat16]): a few program steps under
oneDNN's verbose log, one iteration's primitives grouped by kind, direction, kernel and layer,
each with its speed against oneDNN's matrix product."""
import collections
import json
import re
import statistics
import subprocess
import sys

from benchmark_contenders import MATMUL_SIZE, PROGRAM_THREADS
from benchmark_harness import SCRIPT, contender_env, run_contender


SHAPE = re.compile(r'mb(\d+)_ic(\d+)oc(\d+)_ih(\d+)oh(\d+)kh(\d+).*?_iw(\d+)ow(\d+)kw(\d+)')


def primitive_flop(kind, shape):
    """FLOPs of a (de)convolution primitive from oneDNN's shape string; 0 for the rest."""
    found = SHAPE.search(shape)
    if not found or kind not in ('convolution', 'deconvolution'):
        return 0
    mb, ic, oc, ih, oh, kh, iw, ow, kw = map(int, found.groups())
    if kind == 'convolution':
        return 2 * mb * oc * oh * ow * ic * kh * kw
    return 2 * mb * ic * ih * iw * oc * kh * kw


def primitive_layer(kind, shape):
    """Which layer a (de)convolution primitive computes, from its shape string: channels and
    spatial size in and out; '' for the rest."""
    found = SHAPE.search(shape)
    if not found or kind not in ('convolution', 'deconvolution'):
        return ''
    _, ic, oc, ih, oh, _, iw, ow, _ = found.groups()
    return '%s->%s channels, %sx%s->%sx%s' % (ic, oc, ih, iw, oh, ow)


def profile(args):
    """Run a few program steps with oneDNN's verbose log; group one iteration's primitives by
    kind, direction, kernel and layer, each with its speed against oneDNN's matrix product."""
    peak = run_contender('matmul-mxnet-onednn', PROGRAM_THREADS, args)['gflops']
    contender = 'program-bfloat16' if args.profile == 'bfloat16' else 'program'
    environ = contender_env(PROGRAM_THREADS)
    environ.update(ONEDNN_VERBOSE='1', DNNL_VERBOSE='1', MKLDNN_VERBOSE='1')
    result = subprocess.run(
        [sys.executable, SCRIPT, '--contender', contender, '--iters', '1',
         '--warmup', '2', '--batch-size', str(args.batch_size), '--data-dir', args.data_dir],
        capture_output=True, text=True, env=environ)
    lines = [line.split(',') for line in result.stdout.splitlines()
             if line.startswith('dnnl_verbose,exec')]
    timed = json.loads(result.stdout.strip().splitlines()[-1])
    # The last iteration's primitives: as many lines as one iteration has, from the end.
    per_iteration = len(lines) // 3
    groups = collections.defaultdict(lambda: [0.0, 0, 0])
    for fields in lines[-per_iteration:]:
        kind, implementation, direction = fields[3], fields[4], fields[5]
        group = groups[(kind, direction, implementation, primitive_layer(kind, fields[-2]))]
        group[0] += float(fields[-1])
        group[1] += 1
        group[2] += primitive_flop(kind, fields[-2])
    total_ms = sum(g[0] for g in groups.values())
    print('one program iteration: %.0f ms of oneDNN primitives, %.0f ms wall'
          % (total_ms, 1000 * statistics.median(timed['times'])))
    print('(oneDNN\'s log times every primitive by itself, which slows the iteration down)')
    print('%8s %6s %5s %8s %8s  %s' % ('ms', 'share', 'calls', 'GFLOP/s', 'of peak',
                                       'primitive'))
    for (kind, direction, implementation, layer), (ms, calls, flop) in sorted(
            groups.items(), key=lambda item: -item[1][0]):
        rate = flop / ms / 1e6
        print('%8.1f %5.1f%% %5d %8s %8s  %s %s (%s) %s'
              % (ms, 100 * ms / total_ms, calls, '%.0f' % rate if flop else '-',
                 '%.0f%%' % (100 * rate / peak) if flop else '-', kind, direction,
                 implementation, layer))
    print('peak: %.0f GFLOP/s, oneDNN\'s %dx%d float32 matrix product' % (peak, MATMUL_SIZE,
                                                                        MATMUL_SIZE))
