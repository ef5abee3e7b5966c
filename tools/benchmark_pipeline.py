"""--data's image pipeline alone (python tools/benchmark.py --pipeline): a made folder of
JPEGs packed once, then read through MXNet's ImageRecordIter with 1, 2 and all usable
decoding threads, each in its own process, against what a training step needs."""
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmark_contenders import PROGRAM_THREADS, peak_rss_mb
from benchmark_harness import SCRIPT, contender_env, cpu_name
from dcgan import mxnet_setup


# ============================== --data's image pipeline ==============================

PIPELINE_IMAGES = 20000          # JPEGs of a face data set's size (CelebA's 178 x 218)
PIPELINE_SHAPE = (218, 178)
PIPELINE_BATCHES = 60            # timed, after PIPELINE_WARMUP
PIPELINE_WARMUP = 3
GPU_STEP_IMAGES_PER_SECOND = 6400  # a GPU step takes a batch of 64 in about 10 ms


def make_pipeline_images(folder, count=PIPELINE_IMAGES):
    """`count` JPEGs of PIPELINE_SHAPE: smooth colour fields and a disc, as photos compress."""
    import cv2
    rng = np.random.RandomState(0)
    height, width = PIPELINE_SHAPE
    for index in range(count):
        corners = rng.randint(0, 256, (2, 2, 3)).astype(np.uint8)
        image = cv2.resize(corners, (width, height), interpolation=cv2.INTER_LINEAR)
        cv2.circle(image, tuple(int(v) for v in rng.randint(30, 150, 2)), int(rng.randint(10, 60)),
                   tuple(int(v) for v in rng.randint(0, 256, 3)), -1)
        sub = os.path.join(folder, '%03d' % (index // 1000))
        os.makedirs(sub, exist_ok=True)
        cv2.imwrite(os.path.join(sub, '%06d.jpg' % index), image)


def measure_pipeline(args):
    """--data's start (listing, fingerprint, the pack: made now, or found) and its batches per
    second through ImageRecordIter with --pipeline-threads decoding threads, in this process."""
    from dcgan import own_images
    started = time.perf_counter()
    images = own_images.open_images(args.pipeline_folder, args.pipeline_cache)
    opened = time.perf_counter() - started
    batches = own_images.RecordBatches(images, args.batch_size, 64,
                                       threads=args.pipeline_threads)
    batches.reset()
    for _ in range(PIPELINE_WARMUP):
        batches.next().data[0].wait_to_read()
    started = time.perf_counter()
    for _ in range(PIPELINE_BATCHES):
        batches.next().data[0].wait_to_read()
    seconds = time.perf_counter() - started
    return {'images': images.count, 'open_seconds': opened, 'threads': args.pipeline_threads,
            'images_per_second': PIPELINE_BATCHES * args.batch_size / seconds,
            'peak_rss_mb': peak_rss_mb()}


def run_pipeline(args):
    """The pipeline alone: a made folder packed once, then read with 1, 2 and all usable
    threads (MXNet caps its decoding threads at half the CPUs), each in its own process,
    --repeat times interleaved; against what the program's CPU step and a GPU step take."""
    threads = sorted({1, 2, mxnet_setup.usable_cpu_count()})
    with tempfile.TemporaryDirectory() as work:
        folder, cache = os.path.join(work, 'images'), os.path.join(work, 'cache')
        started = time.perf_counter()
        make_pipeline_images(folder)
        print('made %d JPEGs in %.0f s' % (PIPELINE_IMAGES, time.perf_counter() - started),
              file=sys.stderr, flush=True)

        def read(count):
            done = subprocess.run(
                [sys.executable, SCRIPT, '--contender', 'pipeline',
                 '--batch-size', str(args.batch_size), '--pipeline-folder', folder,
                 '--pipeline-cache', cache, '--pipeline-threads', str(count)],
                capture_output=True, text=True, env=contender_env(PROGRAM_THREADS))
            if done.returncode != 0:
                raise RuntimeError('pipeline failed: %s' % done.stderr.strip()[-500:])
            return json.loads(done.stdout.strip().splitlines()[-1])
        first = read(threads[-1])  # packs the folder
        runs = collections.defaultdict(list)
        for _ in range(args.repeat):
            for count in threads:
                runs[count].append(read(count))
    with open(args.json) as f:
        report = json.load(f)
    program = next(step for step in report['steps'] if step['contender'] == 'program')
    rows = [{'threads': count,
             'images_per_second': statistics.median(r['images_per_second'] for r in found),
             'range': [min(r['images_per_second'] for r in found),
                       max(r['images_per_second'] for r in found)],
             'start_seconds': statistics.median(r['open_seconds'] for r in found),
             'peak_rss_mb': max(r['peak_rss_mb'] for r in found)}
            for count, found in sorted(runs.items())]
    return {'images': PIPELINE_IMAGES, 'image_shape': list(PIPELINE_SHAPE),
            'pack_seconds': first['open_seconds'], 'rows': rows,
            'cpu': cpu_name(), 'cpu_step_needs': program['images_per_second'],
            'cpu_step_measured_on': report['cpu'], 'gpu_step_needs': GPU_STEP_IMAGES_PER_SECOND}


def print_pipeline(found):
    print('--data\'s pipeline: %d JPEGs of %dx%d, packed in %.1f s (%.0f images/s); the CPU '
          'step needs %.0f images/s (on %s), a GPU step about %d'
          % (found['images'], found['image_shape'][1], found['image_shape'][0],
             found['pack_seconds'], found['images'] / found['pack_seconds'],
             found['cpu_step_needs'], found['cpu_step_measured_on'], found['gpu_step_needs']))
    for row in found['rows']:
        print('  %d decoding thread(s) asked: %6.0f images/s (%.0f-%.0f), start %.2f s (the '
              'pack found), peak %d MB' % ((row['threads'], row['images_per_second'])
                                           + tuple(row['range'])
                                           + (row['start_seconds'], row['peak_rss_mb'])))
