"""A digit on request (sample.py --digit D): digits drawn as always (batches of the run's batch
size, BatchNorm on each batch's own statistics) and kept when the shipped classifier
(dcgan/lenet.py) is sure they are D, in the order drawn, until there are enough.

Why selection, not steering: a trained generator draws every digit about one time in ten, so
a hundred sevens cost about a thousand draws, a few seconds; each kept seven is an image the
generator drew as it always does, from noise of its own, so the styles spread as the
generator's do (docs/latent.md measures both: the share an independent check calls D, and the
spread against real sevens'). Steering z through the classifier's gradient would push towards
whatever the classifier likes best, the same seven a hundred times.

The noise of each kept digit is returned with the whole batch it was drawn in: drawn again in
that batch it gives the same image (BatchNorm on the batch's statistics).

The page of sample.py --web cannot run the classifier: an export labels the first
PAGE_DRAWS digits of PAGE_SEED (whole batches) with `label_draws`, and the page draws those
batches and shows the rows labelled with the digit asked for.
"""
import numpy as np

from dcgan import drawing, lenet
from dcgan.errors import UserError

CONFIDENCE = 0.9      # the classifier's probability for D that keeps a drawn digit
MAX_DRAWS_PER_DIGIT = 100  # draws tried for each digit asked before giving up
PAGE_SEED = 0         # the draws an export labels for its page
PAGE_DRAWS = 512      # about 40 of each digit from a trained generator
UNSURE = -1           # the label of a draw the classifier is not sure of


class DigitNotDrawn(UserError):
    """The generator hardly ever draws the digit (a run stopped early, or one on other
    images): the message says how many were found in how many draws."""


def choose(generate_batch, classifier, digit, count, seed, batch_size, noise_dim,
           progress=None):
    """(images (count, C, H, W), their noise (count, Z), the batches they were drawn in
    (K, batch_size, Z) and for each image its (batch, row) there): `count` digits the
    classifier calls `digit` with at least CONFIDENCE, from the batches of `seed`."""
    rng = np.random.RandomState(seed)  # the stream sample.py's grid of `seed` begins
    kept, places, batches = [], [], []
    limit = count * MAX_DRAWS_PER_DIGIT
    while len(places) < count:
        if len(batches) * batch_size >= limit:
            raise DigitNotDrawn('%d of %d %ds found in %d draws: the generator hardly draws '
                                'that digit' % (len(places), count, digit,
                                                len(batches) * batch_size))
        noise = rng.standard_normal((batch_size, noise_dim, 1, 1)).astype(np.float32)
        images = generate_batch(noise)
        rows = np.flatnonzero(labels_of(images, classifier) == digit)[:count - len(places)]
        places.extend((len(batches), row) for row in rows)
        kept.append(images[rows])
        batches.append(noise.reshape(batch_size, noise_dim))
        if progress:
            progress(len(batches))
    noise = np.stack([batches[b][r] for b, r in places])
    return np.concatenate(kept), noise, np.stack(batches), places


def labels_of(images, classifier):
    """For each image, the digit the classifier gives at least CONFIDENCE (above one half:
    one digit at most), else UNSURE."""
    probabilities, _ = classifier.predict(lenet.classifier_input(images))
    sure = probabilities.max(axis=1) >= CONFIDENCE
    return np.where(sure, probabilities.argmax(axis=1), UNSURE)


def label_draws(generate_batch, classifier, batch_size, noise_dim, seed=PAGE_SEED,
                draws=PAGE_DRAWS):
    """The labels (labels_of) of the digits of `seed`'s first whole batches that hold at
    least `draws`, drawn as sample.py draws them."""
    noise = drawing.noise_for(draws, seed, batch_size, noise_dim)
    return np.concatenate([labels_of(generate_batch(noise[start:start + batch_size]),
                                     classifier)
                           for start in range(0, len(noise), batch_size)])
