"""The Modules and one training iteration, checked against gradients computed independently.

The independent computation binds the networks' symbols as plain executors with the same
parameters and runs the tutorial's passes by hand; nothing in it goes through the Modules,
`train_step` or its kept-gradient bookkeeping.
"""
import numpy as np
import pytest

import dcgan_mnist as app
import symbols
from dcgan.framework import mx
from helpers import (BATCH, batch_inputs, bind, build_modules, check_two_devices,
                     discriminator_pass, in_one_suite, parameters, run_step, use_plain_sgd)

pytestmark = in_one_suite('gpu-box')  # MXNet's arithmetic


def test_modules_are_set_up_as_the_tutorial():
    generator, discriminator = build_modules()
    assert generator.data_names == ['rand'] and generator.label_names == []
    assert discriminator.data_names == ['data'] and discriminator.label_names == ['label']
    assert discriminator.inputs_need_grad and not generator.inputs_need_grad
    for module in (generator, discriminator):
        optimizer = module._optimizer
        assert isinstance(optimizer, mx.optimizer.Adam)
        assert optimizer.lr == 0.0002 and optimizer.beta1 == 0.5
        assert optimizer.rescale_grad == pytest.approx(1.0 / BATCH)


def test_initialisation_is_normal_002_with_unit_gamma_and_zero_beta():
    generator, discriminator = build_modules()
    for module in (generator, discriminator):
        params, aux = parameters(module)
        for name, value in params.items():
            if name.endswith('_gamma'):
                assert (value == 1).all(), name
            elif name.endswith('_beta'):
                assert (value == 0).all(), name
            elif value.size > 100000:
                assert abs(value.std() - 0.02) < 0.0005, name
                assert abs(value.mean()) < 0.0005, name
        for name, value in aux.items():
            assert (value == (1 if name.endswith('_var') else 0)).all(), name


def test_one_iteration_changes_every_weight_and_beta_and_keeps_gamma_at_one():
    generator, discriminator = build_modules()
    before = [parameters(generator), parameters(discriminator)]
    result = run_step(generator, discriminator, *batch_inputs())
    after = [parameters(generator), parameters(discriminator)]

    for (params_before, aux_before), (params_after, aux_after) in zip(before, after):
        for name, value in params_after.items():
            assert np.isfinite(value).all(), name
            if name.endswith('_gamma'):
                assert (value == 1).all(), name
            else:  # weights and betas: Adam's first step moves every element with a gradient
                changed = np.mean(value != params_before[name])
                assert changed > 0.99, (name, changed)
        for name, value in aux_after.items():  # BatchNorm's moving statistics follow batches
            assert np.isfinite(value).all() and not np.array_equal(value, aux_before[name]), name
    for probabilities in (result.d_real, result.d_fake, result.d_fake_after):
        assert probabilities.shape == (BATCH,)
        assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert np.isfinite([result.d_loss, result.g_loss]).all()


# ============================== the independent computation ==============================

@pytest.mark.parametrize('with_judge', [False, True], ids=['tutorial step 5', 'judge'])
def test_one_iteration_applies_the_tutorials_gradients(with_judge):
    generator, discriminator = build_modules(seed=3)
    judge = app.build_judge(discriminator) if with_judge else None
    use_plain_sgd(generator)
    use_plain_sgd(discriminator)
    real, noise = batch_inputs(seed=4)
    g_params, g_aux = parameters(generator)
    d_params, d_aux = parameters(discriminator)

    # Step 1: the fakes.
    g_exec = bind(symbols.generator_symbol(), g_params, g_aux, rand=noise.shape)
    g_exec.forward(is_train=True, rand=noise)
    fake = g_exec.outputs[0].asnumpy()
    # Steps 2-4: D's gradient is the sum of its fake (label 0) and real (label 1) gradients.
    d_fake, grads_fake, _ = discriminator_pass(d_params, d_aux, fake, 0.0)
    d_real, grads_real, _ = discriminator_pass(d_params, d_aux, real, 1.0)
    d_expected = {name: d_params[name] - (grads_fake[name] + grads_real[name])
                  for name in d_params}
    # Step 5: the updated D judges the fakes as real; its input gradient drives G's backward.
    d_fake_after, _, input_grad = discriminator_pass(d_expected, d_aux, fake, 1.0)
    g_exec.backward(out_grads=[mx.nd.array(input_grad)])
    g_expected = {name: g_params[name] - g_exec.grad_dict[name].asnumpy() for name in g_params}

    result = run_step(generator, discriminator, real, noise, judge)

    np.testing.assert_allclose(generator.get_outputs()[0].asnumpy(), fake, rtol=0, atol=1e-6)
    np.testing.assert_allclose(result.d_fake, d_fake, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.d_real, d_real, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.d_fake_after, d_fake_after, rtol=1e-4, atol=1e-6)
    for module, expected, before in ((discriminator, d_expected, d_params),
                                     (generator, g_expected, g_params)):
        actual, _ = parameters(module)
        for name, value in expected.items():
            step = before[name] - value
            if not step.any():
                continue  # fixed gammas: no gradient, no change
            scale = np.abs(step).max()
            np.testing.assert_allclose(before[name] - actual[name], step,
                                       rtol=0, atol=2e-3 * scale, err_msg=name)


def test_losses_and_means_come_from_the_discriminators_outputs():
    result = app.StepResult(d_real=np.array([0.5, 0.5], np.float32),
                            d_fake=np.array([0.25, 0.5], np.float32),
                            d_fake_after=np.array([1.0, 0.5], np.float32))
    assert result.d_loss == pytest.approx(np.log(2) - np.mean(np.log([0.75, 0.5])))
    assert result.g_loss == pytest.approx(-np.mean(np.log([1 - 1e-12, 0.5])))
    zero = app.StepResult(*(np.zeros(2, np.float32),) * 3)
    assert np.isfinite(zero.d_loss) and zero.g_loss == pytest.approx(-np.log(1e-12))


def test_the_judge_shares_the_discriminators_weights_and_statistics():
    _, discriminator = build_modules()
    judge = app.build_judge(discriminator)
    d_exec, j_exec = discriminator._exec_group.execs[0], judge._exec_group.execs[0]
    d_exec.arg_dict['d3_weight'][:] = 0.5
    d_exec.aux_dict['dbn3_moving_var'][:] = 2.0
    assert (j_exec.arg_dict['d3_weight'].asnumpy() == 0.5).all()
    assert (j_exec.aux_dict['dbn3_moving_var'].asnumpy() == 2.0).all()
    assert j_exec.grad_dict['d3_weight'] is None  # no weight gradients: the point of it
    assert j_exec.grad_dict['data'] is not None


def test_the_programs_step_gives_the_tutorials_parameters():
    """From the same parameters and batches, two iterations of the program's step (with the
    judge) and of the tutorial's loop body, unmodified, end with the same parameters."""
    from benchmark_contenders import tutorial_step
    batches = [batch_inputs(seed) for seed in (5, 6)]
    tutorial_g, tutorial_d = build_modules(seed=9)
    for real, noise in batches:
        tutorial_step(tutorial_g, tutorial_d, mx.io.DataBatch([mx.nd.array(real)], []),
                      mx.io.DataBatch([mx.nd.array(noise)], []), BATCH, mx.cpu())
    generator, discriminator = build_modules(seed=9)
    judge = app.build_judge(discriminator)
    for real, noise in batches:
        run_step(generator, discriminator, real, noise, judge)
    for ours, theirs in ((generator, tutorial_g), (discriminator, tutorial_d)):
        (params, aux), (expected_params, expected_aux) = parameters(ours), parameters(theirs)
        for name in expected_params:
            np.testing.assert_allclose(params[name], expected_params[name], rtol=1e-5,
                                       atol=1e-7, err_msg=name)
        for name in expected_aux:
            np.testing.assert_allclose(aux[name], expected_aux[name], rtol=1e-5, atol=1e-6,
                                       err_msg=name)


# ============================== several devices ==============================

def test_one_iteration_over_two_devices_is_two_half_batches_summed():
    check_two_devices([mx.cpu(0), mx.cpu(1)])
