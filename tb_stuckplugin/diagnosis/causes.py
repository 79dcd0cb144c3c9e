"""The likely causes a finding can point at, each with what to check or try, in plain words.

Rules pick and order them from the evidence (see rules.py); the texts live here once.
"""

from __future__ import annotations

CAUSES: dict[str, tuple[str, str]] = {
    "learning_rate_zero": (
        "The learning rate is zero or far too small.",
        "Print optimizer.learning_rate (and your schedule's value at this step); "
        "typical values are 1e-4 to 1e-2.",
    ),
    "optimizer_other_variables": (
        "The optimizer updates other variables than these, or apply_gradients is not run.",
        "Check that apply_gradients(zip(grads, variables)) gets the same variables you took "
        "gradients for, and that it runs every step.",
    ),
    "gradients_not_taken": (
        "No gradient is taken for these variables: tape.gradient is given another list (another "
        "model's or a sub-model's variables).",
        "Pass model.trainable_variables (the whole model's) to tape.gradient and to "
        "apply_gradients.",
    ),
    "tape_not_watching": (
        "The gradient tape does not see the computation: the model or the loss ran outside "
        "`with tf.GradientTape() as tape:`.",
        "Call the model and compute the loss inside the `with tape:` block.",
    ),
    "numpy_in_loss": (
        "The loss goes through numpy or Python numbers (.numpy(), np.*, float()), which cuts the graph.",
        "Use only TensorFlow / keras.ops functions between the model's output and the loss.",
    ),
    "wrong_variables": (
        "Gradients are taken with respect to variables the loss does not depend on "
        "(another model's, or copies).",
        "Pass the trainable_variables of the model that produced the output to tape.gradient.",
    ),
    "cut_branch": (
        "A tf.stop_gradient, a non-differentiable op (argmax, round, a cast to int) or a layer that "
        "is not called cuts these variables off from the loss.",
        "Search the model and the loss for stop_gradient, argmax, round and casts; check that every "
        "listed layer is used in call().",
    ),
    "dead_relu": (
        "ReLU units are dead: their input is negative for every example, so their gradient is "
        "exactly zero (often after a too-large learning rate).",
        "Lower the learning rate; try LeakyReLU or GELU; check the initialisation and input scale.",
    ),
    "saturated_inputs": (
        "Sigmoid or tanh units are saturated: their inputs are too large (for example raw 0-255 "
        "pixels), so their slope is about zero.",
        "Scale the inputs to [0, 1] or standardise them; add normalisation layers.",
    ),
    "softmax_one_unit": (
        "The output is a softmax over a single unit, which is 1.0 whatever the input.",
        "Use Dense(1, activation='sigmoid') with binary_crossentropy, or Dense(n_classes) with a "
        "softmax for two classes or more.",
    ),
    "zero_init": (
        "The weights start at zero (or all equal), so units stay identical and get zero or equal "
        "gradients.",
        "Use the default initialisers (Glorot/He); do not use kernel_initializer='zeros'.",
    ),
    "deep_saturating": (
        "Gradients shrink layer by layer through a deep stack of saturating activations "
        "(sigmoid, tanh), so the first layers learn nothing.",
        "Use ReLU-like activations, residual connections or normalisation layers; check the "
        "initialisation.",
    ),
    "collapse_to_constant": (
        "The model learned to predict a constant (the mean, or the majority class), which "
        "minimises the loss without using the input.",
        "Check that labels and outputs have the same shape: MSE between (N, 1) outputs and (N,) "
        "labels broadcasts to (N, N) and is minimised by a constant. Check class balance, the "
        "output activation and that the loss fits the task.",
    ),
    "dead_output": (
        "The last layer outputs exactly zero for every input (a ReLU on the output, or dead units "
        "before it).",
        "Remove the activation of the output layer or use one that fits the loss.",
    ),
    "learning_rate_too_high": (
        "The learning rate is too high: updates overshoot and grow.",
        "Lower the learning rate 10x, or clip gradients (clipnorm=1.0 in the optimizer).",
    ),
    "bad_init_scale": (
        "The initial weights are too large for the depth: each layer multiplies the signal, so "
        "activations and gradients grow layer after layer.",
        "Use the default initialisers (Glorot, or He for ReLU) instead of a fixed standard "
        "deviation; add normalisation layers; clip gradients.",
    ),
    "unscaled_inputs": (
        "The inputs are not scaled (raw pixels, counts, prices), so the first layer's gradients "
        "are as large as the inputs.",
        "Standardise the inputs (or scale them to [0, 1]) in the data pipeline or with a "
        "Normalization layer.",
    ),
    "bad_loss": (
        "The loss produces NaN or Inf: log of zero, division by zero, sqrt of a negative number.",
        "Use losses with from_logits=True instead of log(softmax); add a small epsilon.",
    ),
    "bad_inputs": (
        "The inputs or the labels contain NaN or Inf values.",
        "Check the data pipeline: np.isfinite(x).all() on a few batches.",
    ),
    "float16_overflow": (
        "float16 values overflow (max 65504) without loss scaling.",
        "Use keras.mixed_precision.set_global_policy('mixed_float16') with compile(), which adds "
        "a LossScaleOptimizer, or use bfloat16.",
    ),
    "same_batch": (
        "The same batch is fed at every step: the iterator is created again each step "
        "(next(iter(dataset)) inside the loop), or the dataset repeats one batch.",
        "Create the iterator once, outside the loop; check take(), repeat() and shuffle().",
    ),
    "identical_examples": (
        "Every example of the batch is the same input.",
        "Check the data pipeline for a broadcast, a tf.fill or an indexing bug where data should be.",
    ),
    "frozen_at_init": (
        "These layers are not trainable (trainable=False) and still hold their initial values: "
        "they were never trained, and never will be.",
        "If you meant to freeze a pre-trained part, load its weights first; otherwise set "
        "layer.trainable = True before compile().",
    ),
    "tiny_gradients": (
        "The gradients are tiny: the loss barely depends on these weights at this point.",
        "Check the scale of the inputs and of the loss, the initialisation, and the activations "
        "(saturating ones shrink gradients).",
    ),
}


def causes(*keys: str) -> list[dict[str, str]]:
    """The causes for `keys`, in that order, as JSON-ready dicts."""
    return [{"cause": CAUSES[key][0], "check": CAUSES[key][1]} for key in keys]
