"""The benchmark's arithmetic (its timings are measurements, never tests)."""
import pytest

import benchmark
import symbols


def test_multiply_adds_of_each_network_by_hand():
    # Generator, per image: g1 100*1024*16 from a 1x1 input; g2..g4 4x4/8x8/16x16 inputs;
    # g5 32x32 input to 3 channels.
    generator = (100 * 1024 * 16 + 16 * 1024 * 512 * 16 + 64 * 512 * 256 * 16
                 + 256 * 256 * 128 * 16 + 1024 * 128 * 3 * 16)
    # Discriminator, per image: outputs 32x32x128, 16x16x256, 8x8x512, 4x4x1024 and 1.
    discriminator = (1024 * 128 * 3 * 16 + 256 * 256 * 128 * 16 + 64 * 512 * 256 * 16
                     + 16 * 1024 * 512 * 16 + 1024 * 16)
    assert benchmark.forward_macs(symbols.generator_symbol(), rand=(1, 100, 1, 1)) == generator
    assert benchmark.forward_macs(symbols.discriminator_symbol(), data=(2, 3, 64, 64),
                                  label=(2,)) == 2 * discriminator


def test_an_iteration_is_about_630_gflop_at_batch_64():
    assert benchmark.iteration_gflop(64) == pytest.approx(628.8, abs=0.1)
