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
"""
import numpy as np

from dcgan import lenet
from dcgan.errors import UserError

CONFIDENCE = 0.9      # the classifier's probability for D that keeps a drawn digit
MAX_DRAWS_PER_DIGIT = 100  # draws tried for each digit asked before giving up


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
        probabilities, _ = classifier.predict(lenet.classifier_input(images))
        rows = np.flatnonzero(probabilities[:, digit] >= CONFIDENCE)[:count - len(places)]
        places.extend((len(batches), row) for row in rows)
        kept.append(images[rows])
        batches.append(noise.reshape(batch_size, noise_dim))
        if progress:
            progress(len(batches))
    noise = np.stack([batches[b][r] for b, r in places])
    return np.concatenate(kept), noise, np.stack(batches), places
