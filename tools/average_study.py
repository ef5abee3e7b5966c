"""Which moving average of the generator's weights is worth keeping? The study behind the
README's choice of `--average-generator`'s default.

    python tools/average_study.py train --seed 0 --output-dir runs/study-seed0    # one epoch
    python tools/average_study.py train --seed 1 --output-dir runs/study-seed1
    python tools/average_study.py score runs/study-seed0 runs/study-seed1

`train` runs the program with the tutorial's settings (one epoch, a checkpoint every 200
iterations, all kept) and keeps every average of AVERAGES beside the generator, from the one
training run; at each checkpoint it writes each average's weights to
RUN/averages/iter-NNNNNNN/NAME.params. (Other flags go to dcgan_mnist.py as they are.)

`score` scores the plain generator and every average at every checkpoint of the runs (every
score score.py computes, with the shipped classifier, 5,000 samples, noise seed 0), prints
the FID table with each average's change against the plain generator and score.py's table at
the last checkpoint, writes RUN/averages/scores.json, and ends with each average's smallest
and mean FID cut from iteration GOAL_FROM on, over all the runs.

Two kinds of average, each at several decays d (see dcgan/averaging.py):
- "warm-up": d_t = min(d, (1 + t) / (10 + t)). The warm-up reaches 0.99 at iteration 890,
  so within the first epoch (1,094 iterations) 0.99 and 0.999 with warm-up are the same
  average until then and nearly the same after;
- "constant": d from the first update, the start-up bias removed, so the average weighs
  iteration i by d^(t - i) from the start (a plain constant d from the random initial
  weights would still hold d^t of them: a third after one epoch at 0.999).
"""
import on_path  # noqa: F401  (first: the repository on sys.path, for dcgan/)
# Then MXNet with its setup, or one line saying why not (dcgan/framework.py).
from dcgan.framework import mx

import json
import os
import sys

import dcgan_mnist
import score
from dcgan import averaging, checkpoint, devices, hooks, lenet, mnist, run_state, scoring
from dcgan.cli import Check, OneLineArgumentParser, UserError, command_to, fail
from dcgan.sampling import Sampler

# (name, decay, warm-up)
AVERAGES = (('0.99 warm-up', 0.99, True), ('0.999 warm-up', 0.999, True),
            ('0.99 constant', 0.99, False), ('0.995 constant', 0.995, False),
            ('0.998 constant', 0.998, False), ('0.999 constant', 0.999, False))
STUDY_FLAGS = ['--checkpoint-every', '200', '--keep-checkpoints', '100', '--no-show']
AVERAGES_DIR = 'averages'
SCORES = 'scores.json'
SEED = 0  # the sample noise, as score.py's default
GOAL_FROM = 600  # the averages are judged at every checkpoint from this iteration on


def file_name(name):
    return name.replace(' ', '-') + '.params'


class StudyAverages(hooks.Hook):
    """Every average of AVERAGES, updated after every step of the generator and saved beside
    every checkpoint, in RUN/averages/iter-NNNNNNN/."""

    def __init__(self, generator, run_dir):
        self.generator, self.run_dir = generator, run_dir
        self.averages = [(name, averaging.GeneratorAverage(generator, decay, warmup=warmup))
                         for name, decay, warmup in AVERAGES]

    def after_iteration(self, it):
        for _, average in self.averages:
            average.update(self.generator)

    def save_beside(self, found):
        folder = os.path.join(self.run_dir, AVERAGES_DIR, os.path.basename(found))
        os.makedirs(folder, exist_ok=True)
        for name, average in self.averages:
            checkpoint.save_params(os.path.join(folder, file_name(name)), average.params)


def train(argv):
    """The program with the study's flags, and the study's averages hooked onto its loop."""
    args = dcgan_mnist.parse_args(argv + STUDY_FLAGS)
    if args.resume:
        sys.exit('error: a study run cannot be resumed: its averages are not checkpointed; '
                 'start it again')
    training = dcgan_mnist.start(args)
    study = StudyAverages(training.generator, training.settings.output_dir)
    training.hooks.hooks.append(study)
    training.hooks.checkpoints.after_save.append(study.save_beside)
    dcgan_mnist.run(training)
    return 0


def generator_names():
    return ['plain'] + [name for name, _, _ in AVERAGES]


def earlier_scores(run_dir, classifier, num):
    """What an earlier `score` of this run wrote with the same classifier, N and noise seed:
    ({iteration: scores}, {iteration: the checkpoint's state_sha256}), or two empty dicts. A
    study that is still training gains checkpoints: scoring it again scores only the new."""
    try:
        with open(os.path.join(run_dir, AVERAGES_DIR, SCORES)) as f:
            saved = json.load(f)
        if (saved['classifier_sha256'], saved['num_samples'], saved['seed']) != \
                (classifier.sha256, num, SEED):
            return {}, {}
        return ({int(i): scores for i, scores in saved['scores'].items()},
                {int(i): digest for i, digest in saved['checkpoints'].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, {}


def score_run(run_dir, classifier, real, ctx, num):
    """({iteration: {generator name: scores}}, {iteration: state_sha256}) for every checkpoint
    of a study run, and the last checkpoint's state."""
    earlier, earlier_digests = earlier_scores(run_dir, classifier, num)
    results, digests = {}, {}
    for found in checkpoint.list_checkpoints(run_dir):
        found, state = run_state.open_checkpoint(
            found, command_to('python tools/average_study.py score'))
        iteration = state['global_iteration']
        digests[iteration] = state['state_sha256']
        if (earlier_digests.get(iteration) == digests[iteration] and
                list(earlier.get(iteration, {})) == generator_names()):
            results[iteration] = earlier[iteration]
            continue
        arg_params, aux_params = checkpoint.load_params(os.path.join(found, 'generator.params'))
        generators = [('plain', arg_params)]
        folder = os.path.join(run_dir, AVERAGES_DIR, os.path.basename(found))
        for name, _, _ in AVERAGES:
            generators.append((name, checkpoint.load_params(
                os.path.join(folder, file_name(name)))[0]))
        sampler = Sampler(ctx, state['batch_size'], state['noise_dim'])
        results[iteration] = {}
        for name, params in generators:
            sampler.set_params(params, aux_params)  # train-mode BatchNorm: aux unused
            images, _ = sampler.sample(num, SEED)
            results[iteration][name] = scoring.score_inputs(
                classifier, lenet.classifier_input(images), real)
            print('%s  iteration %d  %-15s FID %.2f'
                  % (run_dir, iteration, name, results[iteration][name]['fid']), flush=True)
    return results, digests, state


def fid_table(run_dir, results):
    """A Markdown table: FID per generator and checkpoint, averages with their change."""
    iterations = sorted(results)
    lines = ['| %s | %s |' % (run_dir, ' | '.join(str(i) for i in iterations)),
             '| --- |%s' % (' ---: |' * len(iterations))]
    for name in generator_names():
        cells = []
        for i in iterations:
            fid, plain = results[i][name]['fid'], results[i]['plain']['fid']
            cells.append('%.1f' % fid if name == 'plain'
                         else '%.1f (%+.0f%%)' % (fid, 100 * (fid / plain - 1)))
        lines.append('| %s | %s |' % (name, ' | '.join(cells)))
    return '\n'.join(lines)


def gains_table(all_results):
    """A Markdown table: each average's smallest and mean FID cut against the plain generator
    over every checkpoint from GOAL_FROM on, in all runs together."""
    lines = ['| average | smallest FID cut from %d on | mean cut |' % GOAL_FROM,
             '| --- | ---: | ---: |']
    for name, _, _ in AVERAGES:
        cuts = [1 - results[i][name]['fid'] / results[i]['plain']['fid']
                for results in all_results for i in results if i >= GOAL_FROM]
        if cuts:
            lines.append('| %s | %.0f%% | %.0f%% |' % (name, 100 * min(cuts),
                                                      100 * sum(cuts) / len(cuts)))
    return '\n'.join(lines)


def final_table(results, real, num, ctx, state):
    """score.py's table at a run's last checkpoint: every generator, the floor, the ceiling."""
    last = results[max(results)]
    images, _ = score.untrained_sampler(state['batch_size'], state['noise_dim'], SEED,
                                        ctx).sample(num, SEED)
    columns = [(name, last[name]) for name in last]
    columns += [('real digits (floor)', real.floor(num, SEED)),
                ('untrained G (ceiling)', scoring.score_inputs(
                    real.classifier, lenet.classifier_input(images), real))]
    return scoring.format_table(columns)


def score_runs(run_dirs, data_dir, num, cache_dir=scoring.CACHE_DIR):
    ctx, _ = devices.choose_context(mx, 'auto')
    classifier = lenet.load_classifier(lenet.SHIPPED, ctx)
    real = scoring.RealDigits(classifier, data_dir, cache_dir)
    all_results = []
    for run_dir in run_dirs:
        results, digests, state = score_run(run_dir, classifier, real, ctx, num)
        with open(os.path.join(run_dir, AVERAGES_DIR, SCORES), 'w') as f:
            json.dump({'classifier_sha256': classifier.sha256, 'num_samples': num,
                       'seed': SEED, 'checkpoints': digests, 'scores': results}, f, indent=1)
        print(fid_table(run_dir, results))
        print('%d samples at the last checkpoint of %s:' % (num, run_dir))
        print(final_table(results, real, num, ctx, state))
        all_results.append(results)
    print(gains_table(all_results))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['train']:
        return train(argv[1:])
    parser = OneLineArgumentParser(prog='tools/average_study.py score',
                                   description='Score the averages of study runs.')
    parser.add_argument('runs', nargs='+', help='run folders trained by "train"')
    parser.add_argument('--num', type=Check(int, low=scoring.MIN_SAMPLES),
                        default=scoring.NUM_SAMPLES)
    parser.add_argument('--data-dir', default=None)
    parser.add_argument('--cache-dir', default=scoring.CACHE_DIR)
    args = parser.parse_args(argv[1:] if argv[:1] == ['score'] else argv)
    try:
        score_runs(args.runs, args.data_dir or mnist.default_data_dir(), args.num,
                   args.cache_dir)
    except UserError as e:  # dcgan/errors.py
        fail(e)
    return 0


if __name__ == '__main__':
    sys.exit(main())
